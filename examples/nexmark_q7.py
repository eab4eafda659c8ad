"""Nexmark query 7, highest bid: for every 10 s tumbling event-time window, the bid(s) with the highest price.

Reads a CSV of bids (auction,bidder,price,event_ms, with a header), takes event
time from the ``event_ms`` column (vectorized, with 500 ms bounded
out-of-orderness) and keeps, per window, every bid whose price is the window's
maximum. Writes ``window_start,window_end,auction,bidder,price,event_ms`` rows.

    strom run -p 2 examples/nexmark_q7.py --input examples/data/bids.csv --output /tmp/q7

The highest price of a window is only known once the window is complete, so the
bids of each window go to one parallel instance (``window_all``) that emits the
winners when the watermark passes the window's end.
"""

import argparse
import os

from strom import StreamExecutionEnvironment
from strom.client.api.connectors import FileSink
from strom.client.api.time import Duration, Time, WatermarkStrategy
from strom.client.api.window_functions import ProcessAllWindowFunction
from strom.client.api.windowing import TumblingEventTimeWindows

PRICE = 2


class HighestBids(ProcessAllWindowFunction):
    """The bids of a window with its highest price (several when they tie)."""

    def process(self, context, elements):
        bids = list(elements)
        top = max(bid[PRICE] for bid in bids)
        window = context.window()
        for auction, bidder, price, event_ms in bids:
            if price == top:
                yield window.start, window.end, auction, bidder, price, event_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bids.csv"))
    parser.add_argument("--output", required=True, help="directory for the part files")
    args = parser.parse_args()

    env = StreamExecutionEnvironment.get_execution_environment()
    bid_time = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(500))
                .with_timestamp_column("event_ms"))
    (env.read_csv(args.input, has_header=True)
        .assign_timestamps_and_watermarks(bid_time)
        .window_all(TumblingEventTimeWindows.of(Time.seconds(10)))
        .process(HighestBids())
        .sink_to(FileSink.csv(args.output)))
    env.execute("nexmark q7: highest bid")


if __name__ == "__main__":
    main()
