"""Filter bids and convert prices, on the Arrow fast path.

Reads a CSV of bids (auction,bidder,price,event_ms), keeps the bids of every
123rd auction and converts the price to euros (x 0.908) with ``map_batches``:
whole Arrow batches through pyarrow compute, no Python call per record.

    strom run -p 2 examples/bids_filter.py --input examples/data/bids.csv --output /tmp/bids
"""

import argparse
import os

import pyarrow as pa
import pyarrow.compute as pc

from strom import StreamExecutionEnvironment
from strom.client.api.connectors import FileSink


def euro_bids_of_every_123rd_auction(batch: pa.RecordBatch) -> pa.RecordBatch:
    kept = batch.filter(pc.equal(pc.remainder(batch["auction"], 123), 0))
    return kept.set_column(2, "price_eur", pc.multiply(kept["price"], 0.908))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bids.csv"))
    parser.add_argument("--output", required=True, help="directory for the part files")
    args = parser.parse_args()

    env = StreamExecutionEnvironment.get_execution_environment()
    (env.read_csv(args.input, has_header=True)
        .map_batches(euro_bids_of_every_123rd_auction)
        .sink_to(FileSink.csv(args.output)))
    env.execute("bids filter")


if __name__ == "__main__":
    main()
