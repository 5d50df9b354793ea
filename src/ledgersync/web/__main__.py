"""`python -m ledgersync.web create-user | unlock`: add a dashboard user (the password is prompted), lift a lockout."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from ledgersync import LedgerSync
from ledgersync.web.auth import create_user, unlock_sign_in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledgersync.web", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("create-user", help="create a user, or give an existing one a role in another organisation")
    add.add_argument("email")
    add.add_argument("--org", required=True, help="organisation id")
    add.add_argument("--role", choices=["owner", "admin", "member"], default="member")
    add.add_argument("--name")
    add.add_argument("--db", help="database URL (default: LEDGERSYNC_DATABASE_URL or .ledgersync/ledgersync.db)")
    unlock = sub.add_parser("unlock", help="lift the sign-in lockout of an account after too many failed sign-ins")
    unlock.add_argument("email")
    unlock.add_argument("--db", help="database URL (default: LEDGERSYNC_DATABASE_URL or .ledgersync/ledgersync.db)")
    args = parser.parse_args(argv)
    if args.command == "unlock":
        lifted = unlock_sign_in(LedgerSync(args.db).store, args.email)
        print(f"{args.email}: " + ("sign-in unlocked" if lifted else "was not locked"))
        return 0
    password = os.environ.get("LEDGERSYNC_NEW_PASSWORD") or getpass.getpass(f"Password for {args.email}: ")
    ls = LedgerSync(args.db)
    try:
        user_id = create_user(ls.store, args.email, password, args.org, args.role, name=args.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.email} ({user_id}) is now {args.role} of {args.org}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
