from rootless.cli import command

command()
