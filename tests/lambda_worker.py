"""Runs `lambda_handler` as Lambda's runtime would, one JSON event per stdin line, one JSON answer
per stdout line. Standard library only, so it also runs under `python -S` beside an unzipped
Lambda package (`--path DIR` puts the package first on sys.path)."""

import json
import sys


class Context:
    """The one part of Lambda's context the handler reads."""

    def __init__(self, remaining_ms):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self):
        return self.remaining_ms


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--path":
        sys.path.insert(0, sys.argv[2])
    from tegridy_tokens.service import handler

    for line in sys.stdin:
        message = json.loads(line)
        if message.get("probe") == "keyring":
            keyring = handler.engine_from_environment().keyring
            answer = {"can_tokenize": keyring.can_tokenize, "can_detokenize": keyring.can_detokenize,
                      "opening_versions": sorted(keyring.opening_keys), "repr": repr(keyring)}
        elif message.get("probe") == "modules":
            answer = {"modules": sorted(sys.modules), "path": sys.path, "handler_file": handler.__file__}
        else:
            try:
                answer = {"result": handler.lambda_handler(message["event"], Context(message["remaining_ms"]))}
            except Exception as error:  # what the runtime reports: the type and the message
                answer = {"errorType": type(error).__name__, "errorMessage": str(error)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
