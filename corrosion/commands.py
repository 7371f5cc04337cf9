"""The base of every management command of ours: a refusal is one line and a non-zero exit.

"Every command refuses bad arguments with a one-line error and a non-zero exit, never a
traceback": argparse's refusals (a bad --month, an unknown option) print one line instead of the
usage block, a service's DomainError becomes a CommandError, and a database that does not answer
is one line too (`--traceback` still shows the whole story).
"""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

from corrosion.errors import DomainError


def one_line(text) -> str:
    """A message on one line, whatever it quotes (a name or a path can hold a newline)."""
    return " ".join(str(text).split())


class Command(BaseCommand):
    """Turns every refusal into a one-line CommandError, which Django prints on stderr (exit 1)."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.error = lambda message: self._refuse_arguments(parser, message)
        return parser

    def _refuse_arguments(self, parser, message):
        if not parser.called_from_command_line:
            raise CommandError(f"Error: {one_line(message)}")
        # argparse would print its usage block first; one line says what is wrong and where to look.
        sys.stderr.write(f"{parser.prog}: error: {one_line(message)} (see --help)\n")
        sys.exit(2)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(one_line(exc.message)) from exc
        except CommandError as exc:
            if type(exc) is CommandError and "\n" in str(exc):  # SystemCheckError lays out its own lines
                raise CommandError(one_line(exc), returncode=exc.returncode) from exc
            raise
        except (OperationalError, InterfaceError) as exc:
            raise CommandError(f"The database did not answer: {one_line(exc)}") from exc
