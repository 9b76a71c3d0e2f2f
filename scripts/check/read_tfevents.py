#!/usr/bin/env python3
"""Reads TensorBoard event files with TensorBoard's own reader and prints their scalars as JSON:
{"files": N, "scalars": {tag: [[step, value], ...]}}. test/tensorboard.test.ts runs it on the
event files the trainers write (reportTo: 'tensorboard') and compares them with metrics.jsonl.
EventFileLoader checks every record's masked CRC-32C, so a bad record fails here.

    .venv/bin/python scripts/check/read_tfevents.py <logdir>
"""
import json
import pathlib
import sys

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader


def main(logdir: str) -> None:
    files = sorted(pathlib.Path(logdir).glob("events.out.tfevents.*"))
    scalars: dict = {}
    versions = []
    for f in files:
        for event in EventFileLoader(str(f), detect_file_replacement=False).Load():
            if event.HasField("file_version"):
                versions.append(event.file_version)
            for v in event.summary.value:
                # The loader migrates simple_value to a tensor; read either form.
                value = v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0]
                scalars.setdefault(v.tag, []).append([event.step, value, event.wall_time])
    print(json.dumps({"files": len(files), "versions": versions, "scalars": scalars}))


if __name__ == "__main__":
    main(sys.argv[1])
