namespace Sandbox.Core;

/// <summary>Who is calling, as established by the face's authentication (never asserted by the client): the tenant
/// whose sandboxes the call may see and touch, and the principal within it ("uid:1000", "token:ab12cd34").</summary>
public sealed record Principal(string Tenant, string Name);
