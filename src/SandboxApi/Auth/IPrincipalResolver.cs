using Sandbox.Core;
using Microsoft.AspNetCore.Http;

namespace Sandbox.SandboxApi.Auth;

/// <summary>Turns a call's connection and headers into a principal; null = not authenticated. Replaceable in DI
/// (tests use it to act as several tenants from one process).</summary>
public interface IPrincipalResolver
{
    Principal? Resolve(HttpContext context);
}
