"""python -m local serve | demo | invoke FUNCTION [EVENT] | clock 72h | fixtures | publish-site | openapi ..."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API locally (moto + Stripe/Cal.com doubles)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--site-port", type=int, default=8080, help="where the site kit is served (0 = any free port)")
    serve.add_argument("--no-schedules", action="store_true", help="do not run the scheduled functions on their own")
    demo = commands.add_parser("demo", help="walk the booking flow against the local API")
    demo.add_argument("--api", default="http://127.0.0.1:3000")
    demo.add_argument("--close-tab", action="store_true", help="pay, then never call create-token/verify")
    demo.add_argument("--jobs", action="store_true", help="the scheduled jobs: expiry, late confirmation, payouts")
    demo.add_argument("--owner", action="store_true", help="the owner's money: refund, balance, pay link, history")
    demo.add_argument(
        "--options", action="store_true", help="seed 003's options: WIMD25, a package, a blocked date moving a booking"
    )
    demo.add_argument(
        "--workshops",
        action="store_true",
        help="seed 004's workshop: a party at the group rate, a resident artist free, the waitlist, a series, reports",
    )
    clock = commands.add_parser(
        "clock",
        help="move the running local runner's clock forward and run the scheduled functions once (e.g. 72h, 16m)",
    )
    clock.add_argument("advance", help="how far: 90s, 16m, 72h, 3d")
    clock.add_argument("--api", default="http://127.0.0.1:3000")
    invoke = commands.add_parser("invoke", help="invoke one function with an event file (like sam local invoke)")
    invoke.add_argument("function", nargs="?", help="logical id in template.yaml, e.g. CreateIntentFunction")
    invoke.add_argument(
        "event",
        nargs="?",
        help="event JSON file, or the name of one of the function's examples (default: its first example in "
        "file-name order, prepared on the runner; a scheduled function without one: its schedule's event)",
    )
    invoke.add_argument("--list", action="store_true", help="list the function's examples (all functions without one)")
    invoke.add_argument("--api", default="http://127.0.0.1:3000", help="the running local runner to invoke in")
    commands.add_parser("fixtures", help="regenerate the example events in functions/*/events/")
    publish = commands.add_parser("publish-site", help="upload site/ to the stack's bucket (HostSiteKit=true)")
    publish.add_argument("--stack", required=True, help="the deployed stack's name (samconfig.toml stack_name)")
    publish.add_argument("--region", default=None)
    openapi = commands.add_parser("openapi", help="generate or check openapi.json")
    group = openapi.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    args = parser.parse_args(argv)

    if args.command == "serve":
        from local.runner import serve_forever

        return serve_forever(args.host, args.port, schedules=not args.no_schedules, site_port=args.site_port)
    if args.command == "demo":
        from local.demo import run_demo

        return run_demo(
            args.api,
            close_tab=args.close_tab,
            jobs=args.jobs,
            owner=args.owner,
            options=args.options,
            workshops=args.workshops,
        )
    if args.command == "clock":
        from local.runner import advance_clock

        return advance_clock(args.api, args.advance)
    if args.command == "publish-site":
        from local.publish import main as publish_site

        return publish_site(args.stack, args.region)
    if args.command == "fixtures":
        from local.fixtures import generate

        return generate()
    if args.command == "invoke":
        from local.runner import invoke_remote

        if args.function is None and not args.list:
            parser.error("invoke needs a FUNCTION (python -m local invoke --list shows them)")
        return invoke_remote(args.api, args.function, args.event, list_examples=args.list)
    from local import openapi as generator

    rendered = generator.render()
    if args.write:
        args.write.write_text(rendered, encoding="utf-8")
        print(f"wrote {args.write}")
        return 0
    if not args.check.exists() or args.check.read_text(encoding="utf-8") != rendered:
        print(f"{args.check} is not what the code generates: run `make openapi` and commit it", file=sys.stderr)
        return 1
    print(f"{args.check} is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
