"""``python -m vies_shared.catalogue``: generate, check, validate the event catalogue and run the compat gate.

generate [--out docs/events]                  write the catalogue
check [--out docs/events]                     fail if the checked-in catalogue is stale
validate [--out docs/events]                  every example against its JSON Schema (jsonschema)
guide --guide docs/SUBSCRIBERS.md --example docs/examples/subscriber.py
                                              fail unless the guide quotes the example verbatim
compat [--baseline docs/events/baseline]      fail on a breaking change to a published event
baseline [--baseline docs/events/baseline]    record the current schemas as the published ones
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vies_shared.catalogue import compat, generate
from vies_shared.catalogue.schemas import event_schema
from vies_shared.catalogue.sources import load_catalogue

DEFAULT_OUT = Path("docs/events")
DEFAULT_BASELINE = DEFAULT_OUT / "baseline"


def current_schemas() -> dict[str, dict[str, object]]:
    """The schemas of every registered event type and version, by ref."""
    return {entry.ref: event_schema(entry) for entry in load_catalogue().events}


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vies_shared.catalogue", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("generate", "check", "validate"):
        commands.add_parser(name).add_argument("--out", type=Path, default=DEFAULT_OUT)
    guide = commands.add_parser("guide")
    guide.add_argument("--guide", type=Path, required=True)
    guide.add_argument("--example", type=Path, required=True)
    for name in ("compat", "baseline"):
        commands.add_parser(name).add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    args = parser.parse_args(argv)

    if args.command == "generate":
        catalogue = load_catalogue()
        for service in catalogue.services:
            if not service.loaded:
                print(f"warning: service {service.name} not loaded ({service.error})", file=sys.stderr)
        changed = generate.write(catalogue, args.out)
        print(f"catalogue: {len(catalogue.events)} event types/versions in {args.out}, {len(changed)} file(s) changed")
        return 0
    if args.command == "check":
        problems = generate.stale(load_catalogue(), args.out)
        for problem in problems:
            print(problem)
        if problems:
            print(f"{args.out} is stale: run `make catalogue` and commit the result")
            return 1
        print(f"catalogue: {args.out} is up to date")
        return 0
    if args.command == "validate":
        checked, errors = generate.validate(args.out)
        for error in errors:
            print(error)
        print(f"catalogue: {checked} example(s) checked against their JSON Schemas, {len(errors)} error(s)")
        return 1 if errors or checked == 0 else 0
    if args.command == "guide":
        if not generate.guide_includes(args.guide, args.example):
            print(f"{args.guide} does not quote {args.example} verbatim: paste the example into the guide")
            return 1
        print(f"{args.guide} quotes {args.example}")
        return 0
    if args.command == "compat":
        if not args.baseline.is_dir():
            print(f"no baseline in {args.baseline}: run `make compat-baseline` at the first release")
            return 1
        changes = compat.compare(compat.load_schemas(args.baseline), current_schemas())
        for change in changes:
            print(change)
        broken = compat.breaking(changes)
        if broken:
            print(
                f"compat: {len(broken)} breaking change(s) to published events. Make the change additive "
                "(new optional field, new enum value, new event type) or add a new schema version (a model with "
                "VERSION = n + 1) and keep the old version registered, produced or upcast."
            )
            return 1
        print(f"compat: no breaking change ({len(changes)} additive change(s))")
        return 0
    # baseline
    args.baseline.mkdir(parents=True, exist_ok=True)
    schemas = current_schemas()
    for old in args.baseline.glob("*.json"):
        if old.name.removesuffix(".json") not in schemas:
            old.unlink()
    for ref, schema in schemas.items():
        (args.baseline / f"{ref}.json").write_text(generate.to_json(schema), encoding="utf-8")
    print(f"compat: baseline of {len(schemas)} schema(s) written to {args.baseline}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
