# Tests for the default policy: `sandbox policy test policies/sandbox` (or `opa test policies/sandbox`).
package sandbox.test

import rego.v1

base := {
	"request": {"id": "t1", "operation": "create"},
	"subject": {"tenant": "acme", "principal": "alice", "verified": true},
	"workload": {"image": "python:3.12", "code_provenance": "tenant", "untrusted": false},
	"requested": {"isolation": "auto"},
	"environment": {"tiers": ["container", "microvm"], "accel": "kvm"},
}

test_trusted_tenant_job_runs_in_a_container if {
	d := data.sandbox.decision with input as base
	d.allow
	d.isolation == "container"
	d.network.mode == "none"
	d.syscall_profile.name == "default"
}

test_untrusted_code_runs_in_a_microvm if {
	d := data.sandbox.decision with input as object.union(base, {"workload": {"untrusted": true}})
	d.allow
	d.isolation == "microvm"
}

test_fork_code_is_untrusted if {
	d := data.sandbox.decision with input as object.union(base, {"workload": {"code_provenance": "fork"}})
	d.isolation == "microvm"
}

test_unknown_tenant_is_denied if {
	d := data.sandbox.decision with input as object.union(base, {"subject": {"tenant": "nobody"}})
	not d.allow
	"unknown tenant \"nobody\"" in d.reasons
}

test_unverified_subject_is_denied if {
	d := data.sandbox.decision with input as object.union(base, {"subject": {"verified": false}})
	not d.allow
}

test_resources_are_clamped_to_the_tenant_ceiling if {
	d := data.sandbox.decision with input as object.union(base, {"requested": {"resources": {"memory_mib": 100000, "vcpus": 2}}})
	d.resources.memory_mib == 8192
	d.resources.vcpus == 2
	d.resources.pids == 256
}

test_egress_only_to_allowed_hosts if {
	d := data.sandbox.decision with input as object.union(base, {"requested": {"network": {"mode": "egress", "egress": ["pypi.org", "evil.example"]}}})
	d.network == {"mode": "egress", "egress": ["pypi.org"], "publish": []}
}

egress_input(entries, publish) := object.union(base, {"requested": {"network": {"mode": "egress", "egress": entries, "publish": publish}}})

untrusted_egress_input(tenant, entries, publish) := object.union(egress_input(entries, publish), {
	"subject": {"tenant": tenant},
	"workload": {"untrusted": true, "code_provenance": "fork"},
})

test_egress_names_with_ports_and_cidrs_inside_the_tenants if {
	d := data.sandbox.decision with input as egress_input(["pypi.org:443", "10.1.2.0/24:5432", "10.9.9.9", "192.0.2.1:80"], [])
	d.network.egress == ["10.1.2.0/24:5432", "10.9.9.9", "pypi.org:443"]
	"egress to \"192.0.2.1:80\" is not allowed for this tenant: dropped" in d.reasons
}

test_a_cidr_wider_than_the_tenants_is_dropped if {
	d := data.sandbox.decision with input as egress_input(["0.0.0.0/0"], [])
	d.network.mode == "loopback"
}

test_the_hosts_loopback_needs_host_loopback if {
	d := data.sandbox.decision with input as egress_input(["127.0.0.1:8080", "pypi.org"], [])
	d.network.egress == ["pypi.org"]
	local := data.sandbox.decision with input as object.union(egress_input(["127.0.0.1:8080"], []), {"subject": {"tenant": "local"}})
	local.network.egress == ["127.0.0.1:8080"]
}

test_untrusted_code_gets_only_the_tenants_untrusted_names if {
	d := data.sandbox.decision with input as untrusted_egress_input("ci", ["deb.debian.org:80", "registry.npmjs.org", "10.0.0.1"], [])
	d.network == {"mode": "egress", "egress": ["deb.debian.org:80"], "publish": []}
	"egress to \"registry.npmjs.org\" is not allowed for untrusted code: dropped" in d.reasons
}

test_untrusted_code_never_gets_cidrs_or_the_hosts_loopback if {
	d := data.sandbox.decision with input as untrusted_egress_input("local", ["10.0.0.1", "127.0.0.1:22"], [])
	d.network.mode == "loopback"
}

test_published_ports_need_publish_ports if {
	d := data.sandbox.decision with input as egress_input([], ["8080:80"])
	d.network == {"mode": "egress", "egress": [], "publish": ["8080:80"]}
	ci := data.sandbox.decision with input as object.union(egress_input(["deb.debian.org"], ["8080:80"]), {"subject": {"tenant": "ci"}})
	ci.network.publish == []
	"publishing port \"8080:80\" is not allowed for this tenant: dropped" in ci.reasons
}

test_the_decision_says_what_egress_was_granted if {
	d := data.sandbox.decision with input as egress_input(["pypi.org:443"], ["8080:80"])
	"network egress granted: pypi.org:443, publish 8080:80" in d.reasons
}

test_tcg_is_refused_when_config_forbids_it if {
	inp := object.union(base, {"workload": {"untrusted": true}, "environment": {"accel": "tcg"}})
	d := data.sandbox.decision with input as inp with data.sandbox.config.allow_tcg as false
	not d.allow
	d.require_hardware_virtualization
}

test_syscalls_outside_the_tenant_list_are_denied if {
	d := data.sandbox.decision with input as object.union(base, {"requested": {"syscalls": ["ptrace", "kexec_load"]}})
	not d.allow
	d.syscall_profile.add == ["ptrace"]
}

test_bad_isolation_hint_is_denied if {
	d := data.sandbox.decision with input as object.union(base, {"requested": {"isolation": "vm"}})
	not d.allow
}

test_rootfs_in_the_tenants_allowlist_is_allowed if {
	d := data.sandbox.decision with input as object.union(base, {"workload": {"rootfs": "/srv/sandbox/rootfs/debian"}})
	d.allow
}

test_rootfs_outside_the_allowlist_is_denied if {
	d := data.sandbox.decision with input as object.union(base, {"workload": {"rootfs": "/etc"}})
	not d.allow
	"rootfs \"/etc\" is not allowed for tenant \"acme\"" in d.reasons
}

test_rootfs_climbing_out_of_the_allowlist_is_denied if {
	d := data.sandbox.decision with input as object.union(base, {"workload": {"rootfs": "/srv/sandbox/rootfs/../../../etc"}})
	not d.allow
}

test_rootfs_of_a_tenant_without_an_allowlist_is_denied if {
	d := data.sandbox.decision with input as object.union(base, {"subject": {"tenant": "public"}, "workload": {"rootfs": "/srv/sandbox/rootfs/debian"}})
	not d.allow
}

test_a_stricter_requested_profile_is_granted if {
	d := data.sandbox.decision with input as object.union(base, {"requested": {"syscall_profile": "strict"}})
	d.allow
	d.syscall_profile.name == "strict"
}

test_the_tenants_own_profile_may_be_requested if {
	d := data.sandbox.decision with input as object.union(base, {"requested": {"syscall_profile": "default"}})
	d.allow
	d.syscall_profile.name == "default"
}

test_a_looser_requested_profile_is_denied if {
	inp := object.union(base, {"subject": {"tenant": "public"}, "requested": {"syscall_profile": "default"}})
	d := data.sandbox.decision with input as inp
	not d.allow
	"syscall profile \"default\" is less strict than tenant \"public\"'s profile \"strict\"" in d.reasons
}

test_an_unknown_requested_profile_is_denied if {
	d := data.sandbox.decision with input as object.union(base, {"requested": {"syscall_profile": "lax"}})
	not d.allow
}

test_silence_about_trust_is_untrusted if {
	inp := {
		"request": {"id": "t1", "operation": "create"},
		"subject": {"tenant": "acme", "principal": "alice", "verified": true},
		"workload": {"code_provenance": "unknown", "untrusted": true},
		"requested": {"isolation": "auto"},
		"environment": {"tiers": ["container", "microvm"], "accel": "kvm"},
	}
	d := data.sandbox.decision with input as inp
	d.isolation == "microvm"
}

test_local_cli_runs_take_any_host_directory_and_high_ceilings if {
	inp := object.union(base, {
		"subject": {"tenant": "local", "principal": "uid:0"},
		"workload": {"rootfs": "/srv/images/debian"},
		"requested": {"resources": {"memory_mib": 8192}},
	})
	d := data.sandbox.decision with input as inp
	d.allow
	d.isolation == "container"
	d.resources.memory_mib == 8192
}

# The containerd shim's tenant: a bundle that declares its code trusted runs in a container; a silent one (untrusted by
# default) in a microVM, whatever tier its annotation hints.
test_containerd_trusted_bundle_runs_in_a_container if {
	inp := object.union(base, {
		"subject": {"tenant": "containerd", "principal": "ns:default"},
		"workload": {"rootfs": "/run/sandbox-shim/default/c1/rootfs", "untrusted": false, "code_provenance": "tenant", "namespace": "default"},
	})
	d := data.sandbox.decision with input as inp
	d.allow
	d.isolation == "container"
}

test_containerd_silent_bundle_runs_in_a_microvm_despite_a_container_hint if {
	inp := object.union(base, {
		"subject": {"tenant": "containerd", "principal": "ns:default"},
		"workload": {"rootfs": "/srv/rootfs", "untrusted": true, "code_provenance": "unknown", "annotations": {"io.sandbox.tier": "container"}},
		"requested": {"isolation": "container"},
	})
	d := data.sandbox.decision with input as inp
	d.allow
	d.isolation == "microvm"
}

# A CRI pod's network namespace (set up by CNI): joined for the containerd tenant, trusted or not (every pod on a
# Kubernetes node has its network); refused for paths outside the tenant's `netns_join` and for pods labelled to refuse it.
pod_netns_input(path, labels) := object.union(base, {
	"subject": {"tenant": "containerd", "principal": "ns:k8s.io"},
	"workload": {"rootfs": "/run/sandbox-shim/k8s.io/p1/rootfs", "untrusted": true, "code_provenance": "unknown", "labels": labels},
	"requested": {"network": {"mode": "netns", "netns": path, "egress": [], "publish": []}},
})

test_containerd_pod_joins_its_cni_netns if {
	d := data.sandbox.decision with input as pod_netns_input("/var/run/netns/cni-1234", {"app": "web"})
	d.allow
	d.network == {"mode": "netns", "netns": "/var/run/netns/cni-1234", "egress": [], "publish": []}
	"pod network: joins the orchestrator's network namespace /var/run/netns/cni-1234" in d.reasons
}

test_containerd_netns_outside_the_tenants_globs_is_denied if {
	d := data.sandbox.decision with input as pod_netns_input("/proc/1/ns/net", {})
	not d.allow
	"joining network namespace \"/proc/1/ns/net\" is not allowed for tenant \"containerd\"" in d.reasons
}

test_containerd_netns_with_dotdot_is_denied if {
	d := data.sandbox.decision with input as pod_netns_input("/var/run/netns/../../proc/1/ns/net", {})
	not d.allow
}

test_containerd_pod_labelled_to_refuse_its_network_is_denied if {
	d := data.sandbox.decision with input as pod_netns_input("/var/run/netns/cni-1234", {"sandbox.io/pod-network": "refused"})
	not d.allow
	"joining network namespace \"/var/run/netns/cni-1234\" is refused for pods labelled sandbox.io/pod-network=refused" in d.reasons
}

test_other_tenants_cannot_join_a_netns if {
	d := data.sandbox.decision with input as object.union(base, {"requested": {"network": {"mode": "netns", "netns": "/var/run/netns/x"}}})
	not d.allow
}
