namespace Sandbox.Isolation;

/// <summary>
/// A sandbox whose first exec costs much more than later ones, and that can pay that cost ahead of time: a microVM
/// restored under TCG translates the guest's exec path (kernel, loader, C library, the agent's spawn code) anew in
/// every clone. A warm pool runs it on each sandbox before the sandbox waits for a claimant. It leaves nothing a
/// claimant could see: a process that ran and was waited for, no files, no output kept.
/// </summary>
public interface IWarmUp
{
    Task WarmUpAsync(CancellationToken cancellationToken);
}
