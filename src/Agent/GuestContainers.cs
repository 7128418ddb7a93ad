using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>The second containers of a pod's guest (<see cref="GuestContainer"/>) by id: AddContainer,
/// RemoveContainer, and the container an exec names.</summary>
internal sealed class GuestContainers(GuestSetup guest) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, GuestContainer> _byId = new(StringComparer.Ordinal);
    private readonly HashSet<string> _adding = new(StringComparer.Ordinal);

    public AddContainerResponse Add(AddContainerRequest request)
    {
        if (!guest.IsSetUp) throw new TtrpcException(StatusCode.FailedPrecondition, "the guest is not set up yet (SetupGuest first)");
        lock (_lock)
        {
            if (_byId.ContainsKey(request.ContainerId) || !_adding.Add(request.ContainerId))
                throw new TtrpcException(StatusCode.AlreadyExists, $"container {request.ContainerId} already exists");
        }
        try
        {
            var container = GuestContainer.Create(request, guest);
            lock (_lock) _byId[container.Id] = container;
            return new AddContainerResponse { HolderPid = container.HolderPid };
        }
        finally
        {
            lock (_lock) _adding.Remove(request.ContainerId);
        }
    }

    public GuestContainer Get(string id)
    {
        lock (_lock)
            return _byId.TryGetValue(id, out var c) ? c : throw new TtrpcException(StatusCode.NotFound, $"container {id}: not found");
    }

    public void Remove(string id)
    {
        GuestContainer? container;
        lock (_lock)
        {
            if (!_byId.Remove(id, out container))
                throw new TtrpcException(StatusCode.NotFound, $"container {id}: not found");
        }
        container.Dispose();
        AgentLog.Info($"container {id} removed");
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var container in _byId.Values) container.Dispose();
            _byId.Clear();
        }
    }
}
