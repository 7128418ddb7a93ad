# The default sandbox decision policy.
#
# Query: data.sandbox.decision
# Output: {allow, isolation, resources, network, syscall_profile, require_hardware_virtualization, reasons}
#
# Rules of thumb:
#   - untrusted code (unknown provenance, forks, untrusted tenants) runs in a microVM;
#   - trusted tenants' own jobs run in a container unless they ask for a microVM;
#   - resources are the request clamped to the tenant's ceilings (the service clamps again to host ceilings);
#   - network is "none" unless the tenant allows egress to the requested destinations (docs/network.md): host names
#     by the tenant's `egress` globs, addresses and CIDRs inside its `egress_cidrs`, the host's loopback (127.0.0.1)
#     only with `host_loopback`, published ports only with `publish_ports`; untrusted code gets only the names in
#     `untrusted_egress` (no CIDRs, never the host's loopback); an orchestrator's network namespace (mode "netns", a
#     CRI pod's) is joined when the tenant's `netns_join` globs name its path;
#   - every deny and every adjustment is explained in `reasons`.
package sandbox

import rego.v1

tenant_configs := data.sandbox.tenants

settings := data.sandbox.defaults

# The tenant's configuration; {} for unknown tenants (which are denied below).
default tenant := {}

tenant := tenant_configs[input.subject.tenant]

known_tenant if tenant_configs[input.subject.tenant]

# ---- trust -------------------------------------------------------------------------------

# Fail safe: a workload is untrusted unless everything says otherwise.
default untrusted := true

untrusted := false if {
	input.workload.untrusted == false
	input.workload.code_provenance == "tenant"
	tenant.trusted == true
}

# ---- isolation tier ----------------------------------------------------------------------

hint := object.get(input, ["requested", "isolation"], "auto")

tiers := object.get(input, ["environment", "tiers"], [])

isolation := "microvm" if untrusted
else := "microvm" if hint == "microvm"
else := "container" if "container" in tiers
else := "microvm"

tcg_allowed if data.sandbox.config.allow_tcg == true

tcg_allowed if tenant.allow_tcg == true

require_hardware_virtualization := isolation == "microvm" if not tcg_allowed
else := false

# ---- resources ---------------------------------------------------------------------------

limits := object.union(settings.ceilings, object.get(tenant, "ceilings", {}))

requested_resources := object.get(input, ["requested", "resources"], {})

resources[name] := amount if {
	some name, ceiling in limits
	wanted := object.get(requested_resources, name, settings.resources[name])
	amount := min([wanted, ceiling])
}

valid_amount(v) if {
	is_number(v)
	v > 0
}

# ---- network -----------------------------------------------------------------------------

requested_mode := object.get(input, ["requested", "network", "mode"], "none")

requested_egress := object.get(input, ["requested", "network", "egress"], [])

requested_publish := object.get(input, ["requested", "network", "publish"], [])

# An entry is "HOST[:PORT]" or "IPV4[/PREFIX][:PORT]"; the engine parses it again and refuses what is malformed.
entry_target(entry) := split(entry, ":")[0]

entry_is_address(entry) if regex.match(`^[0-9./]+$`, entry_target(entry))

entry_cidr(entry) := entry_target(entry) if contains(entry_target(entry), "/")
else := concat("", [entry_target(entry), "/32"])

entry_is_host_loopback(entry) if entry_target(entry) == "127.0.0.1"

# Names: by the tenant's globs ("*.example.org"; a pattern "name:port" allows that port only). Untrusted code: only
# the tenant's `untrusted_egress` names.
name_patterns := object.get(tenant, "untrusted_egress", []) if untrusted
else := object.get(tenant, "egress", [])

name_allowed(entry) if {
	not entry_is_address(entry)
	some pattern in name_patterns
	not contains(pattern, ":")
	glob.match(pattern, ["."], entry_target(entry))
}

name_allowed(entry) if {
	not entry_is_address(entry)
	some pattern in name_patterns
	contains(pattern, ":")
	glob.match(pattern, ["."], entry)
}

# Addresses and CIDRs: inside one of the tenant's `egress_cidrs`; never for untrusted code.
cidr_allowed(entry) if {
	not untrusted
	entry_is_address(entry)
	not entry_is_host_loopback(entry)
	net.cidr_is_valid(entry_cidr(entry))
	some allowed in object.get(tenant, "egress_cidrs", [])
	net.cidr_contains(allowed, entry_cidr(entry))
}

# The host's own loopback services: trusted code of a tenant with `host_loopback` only.
loopback_allowed(entry) if {
	not untrusted
	entry_is_host_loopback(entry)
	object.get(tenant, "host_loopback", false) == true
}

egress_allowed(entry) if name_allowed(entry)

egress_allowed(entry) if cidr_allowed(entry)

egress_allowed(entry) if loopback_allowed(entry)

egress := sort([entry | some entry in requested_egress; egress_allowed(entry)])

publish_allowed if object.get(tenant, "publish_ports", false) == true

publish := sort([p | some p in requested_publish; publish_allowed]) if requested_mode == "egress"
else := []

# An orchestrator's network namespace (a CRI pod's /var/run/netns/cni-…, set up by CNI before the pod's first
# container): joined when one of the tenant's `netns_join` globs names its path, unless the pod carries one of the
# labels the tenant lists in `netns_refuse_labels`. A policy author refuses it by a deny on
# input.requested.network.mode == "netns" (with the path, the pod's labels and annotations, the tier, the trust).
requested_netns := object.get(input, ["requested", "network", "netns"], null)

netns_path_allowed if {
	is_string(requested_netns)
	not contains(concat("", [requested_netns, "/"]), "/../")
	some pattern in object.get(tenant, "netns_join", [])
	glob.match(pattern, ["/"], requested_netns)
}

netns_refused_by contains label if {
	some label, value in object.get(tenant, "netns_refuse_labels", {})
	object.get(input, ["workload", "labels", label], null) == value
}

netns_allowed if {
	netns_path_allowed
	count(netns_refused_by) == 0
}

network := {"mode": "netns", "netns": requested_netns, "egress": [], "publish": []} if {
	requested_mode == "netns"
	netns_allowed
} else := {"mode": "egress", "egress": egress, "publish": publish} if {
	requested_mode == "egress"
	count(egress) + count(publish) > 0
} else := {"mode": "loopback", "egress": [], "publish": []} if {
	requested_mode in {"loopback", "egress"}
} else := {"mode": "none", "egress": [], "publish": []}

# ---- syscalls ----------------------------------------------------------------------------

requested_syscalls := object.get(input, ["requested", "syscalls"], [])

# A caller may ask for a seccomp profile (`sandbox run --profile`): granted when it is at least as strict as the
# tenant's (a lower rank in data.sandbox.syscall_profiles is stricter), denied otherwise: never silently ignored.
tenant_profile := object.get(tenant, "syscall_profile", settings.syscall_profile)

profile_ranks := data.sandbox.syscall_profiles

requested_profile := object.get(input, ["requested", "syscall_profile"], null)

requested_profile_granted if {
	is_string(requested_profile)
	profile_ranks[requested_profile] <= profile_ranks[tenant_profile]
}

profile_name := requested_profile if requested_profile_granted
else := tenant_profile

syscall_profile := {
	"name": profile_name,
	"add": sort([s | some s in requested_syscalls; s in object.get(tenant, "extra_syscalls", [])]),
}

# ---- denials -----------------------------------------------------------------------------

deny contains "subject is not verified" if not input.subject.verified == true

deny contains sprintf("unknown tenant %q", [input.subject.tenant]) if not known_tenant

deny contains sprintf("operation %q is not supported (only \"create\")", [op]) if {
	op := object.get(input, ["request", "operation"], "create")
	op != "create"
}

deny contains sprintf("isolation hint %q is not one of auto, container, microvm", [hint]) if {
	not hint in {"auto", "container", "microvm"}
}

# A host directory as the root shows its world-readable files to the tenant's code: only directories the tenant's
# data allows (glob patterns, "/" separated), and never a path with "." or ".." segments.
requested_rootfs := object.get(input, ["workload", "rootfs"], null)

rootfs_allowed(path) if {
	not contains(concat("", ["/", path, "/"]), "/../")
	not contains(concat("", ["/", path, "/"]), "/./")
	some pattern in object.get(tenant, "rootfs_allow", [])
	glob.match(pattern, ["/"], path)
}

deny contains sprintf("rootfs %q is not allowed for tenant %q", [requested_rootfs, input.subject.tenant]) if {
	is_string(requested_rootfs)
	not rootfs_allowed(requested_rootfs)
}

deny contains "the microvm tier is not available on this host" if {
	isolation == "microvm"
	not "microvm" in tiers
}

deny contains "the container tier is not available on this host" if {
	isolation == "container"
	not "container" in tiers
}

deny contains "microvm needs hardware virtualization (kvm) but this host only has tcg" if {
	isolation == "microvm"
	input.environment.accel != "kvm"
	not tcg_allowed
}

deny contains sprintf("requested %s must be a positive number", [name]) if {
	some name, v in requested_resources
	not valid_amount(v)
}

deny contains sprintf("unknown resource %q", [name]) if {
	some name, _ in requested_resources
	not limits[name]
}

deny contains sprintf("syscall %q is not allowed for tenant %q", [s, input.subject.tenant]) if {
	some s in requested_syscalls
	not s in object.get(tenant, "extra_syscalls", [])
}

deny contains sprintf("syscall profile %q is not one of %v", [requested_profile, sort(object.keys(profile_ranks))]) if {
	is_string(requested_profile)
	not profile_ranks[requested_profile]
}

deny contains sprintf("syscall profile %q is less strict than tenant %q's profile %q", [requested_profile, input.subject.tenant, tenant_profile]) if {
	is_string(requested_profile)
	profile_ranks[requested_profile]
	not requested_profile_granted
}

deny contains sprintf("network mode %q is not one of none, loopback, egress, netns", [requested_mode]) if {
	not requested_mode in {"none", "loopback", "egress", "netns"}
}

deny contains sprintf("joining network namespace %q is not allowed for tenant %q", [requested_netns, input.subject.tenant]) if {
	requested_mode == "netns"
	not netns_path_allowed
}

deny contains sprintf("joining network namespace %q is refused for pods labelled %s=%s", [requested_netns, label, tenant.netns_refuse_labels[label]]) if {
	requested_mode == "netns"
	netns_path_allowed
	some label in netns_refused_by
}

# ---- explanations ------------------------------------------------------------------------

notes contains "untrusted workload: microvm tier enforced" if {
	untrusted
	hint == "container"
}

notes contains sprintf("untrusted workload: %s tier", [isolation]) if {
	untrusted
	hint != "container"
}

notes contains sprintf("trusted workload: %s tier", [isolation]) if not untrusted

notes contains sprintf("requested %s %v exceeds the tenant ceiling %v: clamped", [name, wanted, limits[name]]) if {
	some name, wanted in requested_resources
	valid_amount(wanted)
	wanted > limits[name]
}

notes contains sprintf("egress to %q is not allowed for this tenant: dropped", [host]) if {
	requested_mode == "egress"
	some host in requested_egress
	not egress_allowed(host)
	not untrusted
}

notes contains sprintf("egress to %q is not allowed for untrusted code: dropped", [host]) if {
	requested_mode == "egress"
	some host in requested_egress
	not egress_allowed(host)
	untrusted
}

notes contains sprintf("publishing port %q is not allowed for this tenant: dropped", [p]) if {
	requested_mode == "egress"
	some p in requested_publish
	not publish_allowed
}

notes contains sprintf("network egress granted: %s", [concat(", ", array.concat(egress, [sprintf("publish %s", [p]) | some p in publish]))]) if {
	network.mode == "egress"
}

notes contains sprintf("pod network: joins the orchestrator's network namespace %s", [requested_netns]) if {
	network.mode == "netns"
}

notes contains "microvm runs under tcg (software emulation): allowed by configuration" if {
	isolation == "microvm"
	input.environment.accel == "tcg"
	tcg_allowed
}

# ---- the decision ------------------------------------------------------------------------

decision := {
	"allow": count(deny) == 0,
	"isolation": isolation,
	"resources": resources,
	"network": network,
	"syscall_profile": syscall_profile,
	"require_hardware_virtualization": require_hardware_virtualization,
	"reasons": array.concat(sort(deny), sort(notes)),
}
