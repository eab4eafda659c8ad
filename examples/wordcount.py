"""Word count: read text, count words, write ``word,count`` lines (CSV, no header).

    strom run -p 2 examples/wordcount.py --input examples/data/words.txt --output /tmp/wordcount
"""

import argparse
import os

from strom import RuntimeExecutionMode, StreamExecutionEnvironment
from strom.client.api.connectors import FileSink


def main() -> None:
    parser = argparse.ArgumentParser(description="Count words in text files.")
    parser.add_argument("--input", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "words.txt"),
                        help="a text file or a directory of text files (default: the bundled sample)")
    parser.add_argument("--output", required=True, help="directory for the part files")
    args = parser.parse_args()

    env = StreamExecutionEnvironment.get_execution_environment()
    # bounded input: emit each word's final count once, not a running count per word
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)

    (env.read_text_file(args.input)
        .flat_map(lambda line: [(word, 1) for word in line.split()])
        .key_by(lambda pair: pair[0])
        .sum(1)
        .sink_to(FileSink.csv(args.output)))

    env.execute("wordcount")


if __name__ == "__main__":
    main()
