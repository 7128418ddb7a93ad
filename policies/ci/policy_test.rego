# Tests for the CI trust policy: `sandbox policy test policies/ci` (or `opa test policies/ci`).
package ci.test

import rego.v1

push_main := {
	"event": "push", "fork": false, "ref": "refs/heads/main", "actor": "alice",
	"repository": "local/project", "job": "build", "runs_on": ["ubuntu-latest"], "egress": [],
}

fork_pr := object.union(push_main, {"event": "pull_request", "fork": true, "ref": "refs/pull/7/merge", "actor": "mallory"})

test_push_to_protected_branch_of_trusted_repo_is_trusted if {
	d := data.ci.decision with input as push_main
	d.trust == "trusted"
	d.isolation == "container"
	d.secrets == true
}

test_fork_pull_request_gets_a_microvm_without_secrets if {
	d := data.ci.decision with input as fork_pr
	d.trust == "fork"
	d.isolation == "microvm"
	d.secrets == false
}

test_fork_egress_only_to_mirrors if {
	inp := object.union(fork_pr, {"egress": ["mirror.example:443", "evil.example"]})
	d := data.ci.decision with input as inp with data.ci.config.mirrors as ["mirror.example"]
	d.egress == ["mirror.example:443"]
	"egress to \"evil.example\" is not an operator-listed mirror: dropped" in d.reasons
}

test_trusted_egress_only_to_mirrors if {
	inp := object.union(push_main, {"egress": ["*.example", "pkg.mirror.test"]})
	d := data.ci.decision with input as inp with data.ci.config.mirrors as ["*.mirror.test"]
	d.egress == ["pkg.mirror.test"]
}

test_unprotected_branch_is_strictest if {
	d := data.ci.decision with input as object.union(push_main, {"ref": "refs/heads/feature"})
	d.trust == "unknown"
	d.isolation == "microvm"
	d.secrets == false
}

test_untrusted_repository_is_strictest if {
	d := data.ci.decision with input as object.union(push_main, {"repository": "someone/else"})
	d.trust == "unknown"
	d.secrets == false
}

test_unknown_event_is_strictest_and_has_no_egress if {
	inp := object.union(push_main, {"event": "workflow_dispatch", "egress": ["mirror.example"]})
	d := data.ci.decision with input as inp with data.ci.config.mirrors as ["mirror.example"]
	d.trust == "unknown"
	d.egress == []
}

test_missing_fields_are_strictest if {
	d := data.ci.decision with input as {}
	d.trust == "unknown"
	d.isolation == "microvm"
	d.secrets == false
}

test_pull_request_not_from_fork_is_not_trusted if {
	d := data.ci.decision with input as object.union(push_main, {"event": "pull_request", "ref": "refs/pull/1/merge"})
	d.trust == "unknown"
}

test_push_from_fork_is_not_trusted if {
	d := data.ci.decision with input as object.union(push_main, {"fork": true})
	d.trust == "unknown"
}

test_release_branches_are_protected if {
	d := data.ci.decision with input as object.union(push_main, {"ref": "refs/heads/release/1.2"})
	d.trust == "trusted"
}
