# The default CI trust policy: how much each job of a workflow run is trusted, from WHO TRIGGERED IT, never from the
# workflow file (a fork's pull request controls that file).
#
# Query: data.ci.decision
# Input: {event, fork, ref, actor, repository, job, runs_on, egress, environment: {tiers, accel}}
# Output: {trust, isolation, secrets, egress, reasons}
#
#   - a fork's pull request (pull_request or pull_request_target from a fork): "fork" trust, a microVM, no secrets,
#     egress only to the package mirrors the operator lists (data.ci.config.mirrors);
#   - a push to a protected branch (data.ci.config.protected_branches) of a trusted repository
#     (data.ci.config.trusted_repositories): "trusted", the container tier, secrets, egress to the same mirrors;
#   - anything else, or anything missing: "unknown", the strictest: a microVM, no secrets, no egress.
# The sandbox policy (data.sandbox.decision) still has the last word on the sandbox each job gets.
package ci

import rego.v1

settings := data.ci.config

event := object.get(input, "event", "")

ref := object.get(input, "ref", "")

repository := object.get(input, "repository", "")

requested_egress := object.get(input, "egress", [])

# ---- trust -------------------------------------------------------------------------------

default trust := "unknown"

trust := "fork" if fork_pull_request
else := "trusted" if trusted_push

fork_pull_request if {
	event in {"pull_request", "pull_request_target"}
	input.fork == true
}

trusted_push if {
	event == "push"
	input.fork == false
	trusted_repository
	protected_branch
}

trusted_repository if {
	some pattern in settings.trusted_repositories
	glob.match(pattern, ["/"], repository)
}

branch := substring(ref, count("refs/heads/"), -1) if startswith(ref, "refs/heads/")

protected_branch if {
	some pattern in settings.protected_branches
	glob.match(pattern, ["/"], branch)
}

# ---- what each trust gets ----------------------------------------------------------------

isolation := "container" if trust == "trusted"
else := "microvm"

secrets := trust == "trusted"

host_of(entry) := split(entry, ":")[0]

mirror(entry) if {
	some pattern in settings.mirrors
	glob.match(pattern, ["."], host_of(entry))
}

egress := sort([e | some e in requested_egress; mirror(e)]) if trust in {"fork", "trusted"}
else := []

# ---- explanations ------------------------------------------------------------------------

reasons contains sprintf("pull request from a fork of %q: untrusted code, microvm, no secrets", [repository]) if trust == "fork"

reasons contains sprintf("push to protected branch %q of trusted repository %q: container tier, secrets", [branch, repository]) if trust == "trusted"

reasons contains sprintf("event %q is neither a fork's pull request nor a push: the strictest sandbox", [event]) if {
	trust == "unknown"
	not event in {"push", "pull_request", "pull_request_target"}
}

reasons contains sprintf("pull request from a branch of %q (not a fork) is not listed as trusted: the strictest sandbox", [repository]) if {
	trust == "unknown"
	event in {"pull_request", "pull_request_target"}
}

reasons contains sprintf("repository %q is not one of the trusted repositories %v: the strictest sandbox", [repository, settings.trusted_repositories]) if {
	trust == "unknown"
	event == "push"
	not trusted_repository
}

reasons contains sprintf("ref %q is not a protected branch %v: the strictest sandbox", [ref, settings.protected_branches]) if {
	trust == "unknown"
	event == "push"
	trusted_repository
	not protected_branch
}

reasons contains sprintf("a push from a fork is not trusted: the strictest sandbox", []) if {
	trust == "unknown"
	event == "push"
	input.fork == true
}

reasons contains sprintf("egress to %q is not an operator-listed mirror: dropped", [e]) if {
	trust in {"fork", "trusted"}
	some e in requested_egress
	not mirror(e)
}

reasons contains sprintf("egress to %q dropped: no network for untrusted jobs of unknown origin", [e]) if {
	trust == "unknown"
	some e in requested_egress
}

# ---- the decision ------------------------------------------------------------------------

decision := {
	"trust": trust,
	"isolation": isolation,
	"secrets": secrets,
	"egress": egress,
	"reasons": sort(reasons),
}
