"""Join bids with auction listings per 10-second event-time window.

Reads bids (auction,bidder,price,event_ms) and auction listings
(auction,seller,category,event_ms), takes each one's event time from its
``event_ms`` column, and joins every bid with the listings of its auction in
the same 10 s tumbling window (Flink's window join: an inner join of all pairs
per key and window). Writes (auction, bidder, price, seller, category) as CSV.

    strom run -p 2 examples/windowed_join.py --output /tmp/joined
"""

import argparse
import os

from strom import StreamExecutionEnvironment
from strom.client.api.connectors import FileSink
from strom.client.api.time import Duration, Time, WatermarkStrategy
from strom.client.api.window_functions import JoinFunction
from strom.client.api.windowing import TumblingEventTimeWindows

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class BidWithListing(JoinFunction):
    def join(self, bid, listing):
        auction, bidder, price, _ = bid
        _, seller, category, _ = listing
        return auction, bidder, price, seller, category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", default=os.path.join(DATA, "bids.csv"))
    parser.add_argument("--auctions", default=os.path.join(DATA, "auctions.csv"))
    parser.add_argument("--output", required=True, help="directory for the part files")
    args = parser.parse_args()

    env = StreamExecutionEnvironment.get_execution_environment()
    # the files are out of order by less than 10 s: with that bound no element is late
    event_time = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(10))
                  .with_timestamp_column("event_ms"))
    bids = env.read_csv(args.bids, has_header=True).assign_timestamps_and_watermarks(event_time)
    listings = env.read_csv(args.auctions, has_header=True).assign_timestamps_and_watermarks(event_time)
    (bids.join(listings)
        .where(lambda bid: bid[0])
        .equal_to(lambda listing: listing[0])
        .window(TumblingEventTimeWindows.of(Time.seconds(10)))
        .apply(BidWithListing())
        .sink_to(FileSink.csv(args.output)))
    env.execute("windowed join")


if __name__ == "__main__":
    main()
