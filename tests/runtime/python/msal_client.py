"""An app written with MSAL Python, driven by tests/runtime/msal-python.test.js.

Each subcommand builds a ConfidentialClientApplication the way an app migrated from Entra
would (see docs/migrating-from-entra.md) and prints one JSON object on stdout:

  client-credentials   acquire_token_for_client; prints MSAL's result
  auth-code-start      initiate_auth_code_flow; prints the flow (auth_uri included)
  auth-code-finish     reads {"flow": ..., "response": ...} on stdin, runs
                       acquire_token_by_auth_code_flow; prints MSAL's result and the
                       accounts in the app's token cache

Authority modes (--mode): "authority" passes authority= with instance_discovery=False (MSAL
Python then reads {authority}v2.0/.well-known/openid-configuration); "oidc" passes
oidc_authority= (MSAL Python reads {oidc_authority}/.well-known/openid-configuration).
Credentials: the client secret comes from the environment variable CIAM_CLIENT_SECRET (so it
never shows in a process listing); a certificate from --private-key and --certificate files,
sent with its SHA-1 thumbprint (--thumbprint, RS256 and x5t) or, without it, with the
certificate itself (PS256, x5t#S256 and x5c). The https CA comes from REQUESTS_CA_BUNDLE.
"""

import argparse
import json
import os
import sys

import msal


def credential(args):
    """The client_credential argument: a secret, or a certificate dict."""
    if args.private_key:
        with open(args.private_key, encoding="utf-8") as handle:
            key = handle.read()
        if args.thumbprint:
            return {"private_key": key, "thumbprint": args.thumbprint}
        with open(args.certificate, encoding="utf-8") as handle:
            return {"private_key": key, "public_certificate": handle.read()}
    secret = os.environ.get("CIAM_CLIENT_SECRET")
    if not secret:
        raise SystemExit("msal_client: CIAM_CLIENT_SECRET is not set and no --private-key given")
    return secret


def application(args):
    """The ConfidentialClientApplication for the chosen authority mode."""
    if args.mode == "oidc":
        location = {"oidc_authority": args.authority}
    else:
        location = {"authority": args.authority, "instance_discovery": False}
    return msal.ConfidentialClientApplication(
        args.client_id, client_credential=credential(args), **location
    )


def client_credentials(args):
    app = application(args)
    return app.acquire_token_for_client(scopes=args.scope)


def auth_code_start(args):
    app = application(args)
    return app.initiate_auth_code_flow(
        scopes=args.scope,
        redirect_uri=args.redirect_uri,
        response_mode=args.response_mode,
        prompt=args.prompt,
    )


def auth_code_finish(args):
    app = application(args)
    given = json.load(sys.stdin)
    result = app.acquire_token_by_auth_code_flow(given["flow"], given["response"])
    accounts = [
        {key: account.get(key) for key in ("home_account_id", "environment", "username", "local_account_id", "realm")}
        for account in app.get_accounts()
    ]
    return {"result": result, "accounts": accounts}


def parser():
    main = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest="command", required=True)
    for name, run in (
        ("client-credentials", client_credentials),
        ("auth-code-start", auth_code_start),
        ("auth-code-finish", auth_code_finish),
    ):
        command = commands.add_parser(name)
        command.set_defaults(run=run)
        command.add_argument("--mode", choices=("authority", "oidc"), default="authority")
        command.add_argument("--authority", required=True)
        command.add_argument("--client-id", required=True)
        command.add_argument("--scope", action="append", default=[])
        command.add_argument("--private-key")
        command.add_argument("--certificate")
        command.add_argument("--thumbprint")
        command.add_argument("--redirect-uri")
        command.add_argument("--response-mode")
        command.add_argument("--prompt")
    return main


def main():
    args = parser().parse_args()
    try:
        outcome = args.run(args)
    except (ValueError, KeyError) as error:  # MSAL's configuration and flow errors
        outcome = {"exception": type(error).__name__, "message": str(error)}
    json.dump(outcome, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
