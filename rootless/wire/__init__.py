"""Docker's small wire rules, shared by client and server (issue 8, "a wire floor").

Filters, times, API versions, the stdcopy frame format, exit codes and the
cmd/entrypoint and env rules. Everything here is pure: stdlib and
rootless.errors only, so client/, cli/, api/, engine/ and runtime/ can all
import it and agree on one reading of each rule.
"""
