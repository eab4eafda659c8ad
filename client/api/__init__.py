"""The user API: StreamExecutionEnvironment, DataStream, functions, sources and sinks (PyFlink's names)."""
