"""The user-facing state API (strom.client.api.state): descriptors, TTL config, Time, AggregateFunction."""

import cloudpickle
import pytest

from strom.client.api import state as api
from strom.common.errors import ConfigurationError
from strom.taskmanager.state import StateKind


def test_time_is_the_shared_time_helper_and_durations_work_too():
    from strom.client.api.time import Duration, Time

    assert api.Time is Time
    assert api.Time.seconds(1.5).to_milliseconds() == 1_500
    assert api.Time.minutes(2).to_milliseconds() == 120_000
    config = api.StateTtlConfig.new_builder(Duration.of_seconds(2)).build()
    assert config.ttl_ms == 2_000


def test_ttl_builder_defaults_and_settings():
    default = api.StateTtlConfig.new_builder(api.Time.seconds(1)).build()
    assert default.get_update_type() is api.StateTtlConfig.UpdateType.OnCreateAndWrite
    assert default.get_state_visibility() is api.StateTtlConfig.StateVisibility.NeverReturnExpired
    assert default.get_ttl() == api.Time.seconds(1) and default.is_enabled()
    assert (default.ttl_ms, default.update_type, default.state_visibility) == (
        1000, "OnCreateAndWrite", "NeverReturnExpired")
    config = (api.StateTtlConfig.new_builder(api.Time.seconds(1))
              .set_update_type(api.StateTtlConfig.UpdateType.OnReadAndWrite)
              .set_state_visibility(api.StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
              .use_processing_time()
              .cleanup_full_snapshot()
              .set_ttl(api.Time.minutes(1))
              .build())
    assert config.update_type == "OnReadAndWrite"
    assert config.state_visibility == "ReturnExpiredIfNotCleanedUp"
    assert config.ttl_ms == 60_000 and config.cleanup_full_snapshot
    short = (api.StateTtlConfig.new_builder(api.Time.seconds(1)).update_ttl_on_read_and_write()
             .return_expired_if_not_cleaned_up().build())
    assert short.update_type == "OnReadAndWrite" and short.state_visibility == "ReturnExpiredIfNotCleanedUp"
    assert api.StateTtlConfig.new_builder(api.Time.seconds(1)).set_update_type("OnReadAndWrite").build() \
        .get_update_type() is api.StateTtlConfig.UpdateType.OnReadAndWrite


def test_ttl_builder_errors():
    with pytest.raises(ConfigurationError, match="unknown TTL update type 'Sometimes'"):
        api.StateTtlConfig.new_builder(api.Time.seconds(1)).set_update_type("Sometimes")
    with pytest.raises(ConfigurationError, match="must be positive"):
        api.StateTtlConfig.new_builder(api.Time.seconds(0)).build()
    with pytest.raises(ConfigurationError, match="needs a Time"):
        api.StateTtlConfig.new_builder(1000).build()


def test_descriptors_carry_name_kind_and_ttl():
    ttl = api.StateTtlConfig.new_builder(api.Time.seconds(1)).build()
    value = api.ValueStateDescriptor("count", int)
    assert (value.name, value.get_name(), value.state_kind, value.type_info) == ("count", "count", "value", int)
    assert value.ttl_config is None
    value.enable_time_to_live(ttl)
    assert value.ttl_config is ttl and value.get_ttl_config() is ttl
    assert api.ListStateDescriptor("l").state_kind == StateKind.LIST
    m = api.MapStateDescriptor("m", key_type=str, value_type=int)
    assert (m.state_kind, m.key_type, m.value_type) == ("map", str, int)
    r = api.ReducingStateDescriptor("r", max)
    assert r.state_kind == "reducing" and r.get_reduce_function() is max
    disabled = api.StateTtlConfig.new_builder(api.Time.seconds(1)).set_update_type("Disabled").build()
    value.enable_time_to_live(disabled)
    assert value.ttl_config is None


def test_descriptor_errors():
    with pytest.raises(ConfigurationError, match="non-empty name"):
        api.ValueStateDescriptor("")
    with pytest.raises(ConfigurationError, match="ReduceFunction or a callable"):
        api.ReducingStateDescriptor("r", 42)
    with pytest.raises(ConfigurationError, match="missing create_accumulator, add, get_result"):
        api.AggregatingStateDescriptor("a", object())
    with pytest.raises(ConfigurationError, match="needs a StateTtlConfig"):
        api.ValueStateDescriptor("v").enable_time_to_live(api.Time.seconds(1))


class Count(api.AggregateFunction):
    def create_accumulator(self):
        return 0

    def add(self, value, accumulator):
        return accumulator + 1

    def get_result(self, accumulator):
        return accumulator


def test_aggregate_function_and_pickling():
    with pytest.raises(TypeError):
        api.AggregateFunction()
    count = Count()
    assert count.get_result(count.add("x", count.create_accumulator())) == 1
    with pytest.raises(NotImplementedError, match="Count.merge.*session windows"):
        count.merge(1, 2)
    d = api.AggregatingStateDescriptor("c", count)
    d.enable_time_to_live(api.StateTtlConfig.new_builder(api.Time.seconds(3)).build())
    back = cloudpickle.loads(cloudpickle.dumps(d))  # descriptors travel with the job graph
    assert back.name == "c" and back.ttl_config.ttl_ms == 3000 and back.state_kind == "aggregating"


def test_the_client_module_does_not_import_the_runtime():
    import pathlib
    import re

    source = pathlib.Path(api.__file__).read_text()
    imported = re.findall(r"^\s*(?:from|import)\s+(strom\.\w+)", source, re.M)
    assert imported and "strom.taskmanager" not in imported
