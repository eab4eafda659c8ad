"""Fraud detection: Flink's classic walkthrough, in event time.

Reads transactions (account_id, amount, event_ms) from a CSV and raises an
alert for an account when a small transaction (< 1.00) is followed by a large
one (> 500.00) within one minute of event time: the pattern of a thief testing
a stolen card before emptying it. Alerts are ``account_id,event_ms,amount`` of
the large transaction, as CSV.

A KeyedProcessFunction keeps, per account, a flag ("the last transaction was
small") and the time it expires, in ValueState; an event-time timer at that
time clears both once the watermark passes it, so idle accounts hold no state.

    strom run -p 2 examples/fraud_detection.py --output /tmp/alerts
"""

import argparse
import os

from strom import StreamExecutionEnvironment
from strom.client.api.connectors import FileSink
from strom.client.api.functions import KeyedProcessFunction
from strom.client.api.state import ValueStateDescriptor
from strom.client.api.time import WatermarkStrategy

SMALL_AMOUNT = 1.00
LARGE_AMOUNT = 500.00
ONE_MINUTE = 60 * 1000


class FraudDetector(KeyedProcessFunction):
    def open(self, runtime_context):
        self.flag = runtime_context.get_state(ValueStateDescriptor("flag"))
        self.expiry = runtime_context.get_state(ValueStateDescriptor("flag-expiry"))

    def process_element(self, transaction, ctx):
        account_id, amount, event_ms = transaction
        if self.flag.value():
            # the timer clears the flag once the watermark passes its expiry; until then the
            # transaction's own time decides whether it is still within the minute
            if amount > LARGE_AMOUNT and event_ms <= self.expiry.value():
                yield account_id, event_ms, amount
            self.clean_up(ctx)
        if amount < SMALL_AMOUNT:
            expiry = event_ms + ONE_MINUTE
            self.flag.update(True)
            self.expiry.update(expiry)
            ctx.timer_service().register_event_time_timer(expiry)

    def on_timer(self, timestamp, ctx):
        self.flag.clear()
        self.expiry.clear()

    def clean_up(self, ctx):
        ctx.timer_service().delete_event_time_timer(self.expiry.value())
        self.flag.clear()
        self.expiry.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                                        "transactions.csv"))
    parser.add_argument("--output", required=True, help="directory for the part files of alerts")
    args = parser.parse_args()

    env = StreamExecutionEnvironment.get_execution_environment()
    # one reader keeps the file's time order, so every account's transactions arrive in order
    transactions = (env.read_csv(args.input, has_header=True).set_parallelism(1)
                    .assign_timestamps_and_watermarks(
                        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_column("event_ms"))
                    .set_parallelism(1))
    (transactions
        .key_by(lambda transaction: transaction[0])
        .process(FraudDetector())
        .name("fraud-detector").uid("fraud-detector")
        .sink_to(FileSink.csv(args.output)))
    env.execute("fraud detection")


if __name__ == "__main__":
    main()
