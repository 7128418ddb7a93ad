namespace Sandbox.Policy.Rego;

/// <summary>
/// graph.reachable and graph.reachable_paths over a graph given as an object from node to its neighbours (an array
/// or a set; anything else, null included, is no neighbours).
/// </summary>
internal static class GraphBuiltins
{
    private const string Reachable = "graph.reachable";
    private const string ReachablePaths = "graph.reachable_paths";

    /// <summary>Nodes visited by one reachable_paths call before it gives up: the paths of a DAG can be exponential.</summary>
    internal const int MaxPathSteps = 1_000_000;

    public static void Register(BuiltinTable t)
    {
        // The nodes reachable from the initial ones. A node counts once it is a key of the graph, so an initial node
        // the graph does not name is not in the result (as in OPA).
        t.Register(Reachable, 2, (a, _) =>
        {
            var graph = BuiltinTable.Obj(a, 0, Reachable);
            var queue = new Queue<Value>(BuiltinTable.Elems(a, 1, Reachable));
            var reached = new HashSet<Value>();
            while (queue.Count > 0)
            {
                var node = queue.Dequeue();
                if (reached.Contains(node) || graph.Get(node) is not { } edges) continue;
                reached.Add(node);
                foreach (var next in Neighbours(edges)) queue.Enqueue(next);
            }
            return new SetValue(reached);
        });
        t.Register(ReachablePaths, 2, (a, _) =>
        {
            var graph = BuiltinTable.Obj(a, 0, ReachablePaths);
            var paths = new HashSet<Value>();
            var steps = 0;
            foreach (var node in BuiltinTable.Elems(a, 1, ReachablePaths))
            {
                if (graph.Get(node) is not { } edges) continue;
                var first = Neighbours(edges);
                if (first.Count == 0) paths.Add(new ArrayValue([node]));
                foreach (var next in first) Walk(graph, node, next, paths, ref steps);
            }
            return new SetValue(paths);
        });
    }

    private static IReadOnlyList<Value> Neighbours(Value edges) => edges is ArrayValue or SetValue ? BuiltinTable.Elems([edges], 0, Reachable) : [];

    /// <summary>
    /// Every path from <paramref name="start"/> (reached from <paramref name="origin"/>) as OPA's current
    /// reachable_paths builds them: a path grows depth first until it reaches a node without neighbours (kept with
    /// that node), a node the graph does not name (kept without it), or a node already on the path (kept without
    /// it). Each branch has its own path, so a node reachable along two routes ends both. Iterative, so a long chain
    /// cannot exhaust the stack.
    /// </summary>
    private static void Walk(ObjectValue graph, Value origin, Value start, HashSet<Value> paths, ref int steps)
    {
        var path = new List<Value> { origin };
        var onPath = new Dictionary<Value, int> { [origin] = 1 };
        var frames = new Stack<(IReadOnlyList<Value> Next, int Index)>();

        void Visit(Value node, ref int steps)
        {
            if (++steps > MaxPathSteps) throw new BuiltinException($"{ReachablePaths}: more than {MaxPathSteps} steps");
            if (graph.Get(node) is not { } edges)
            {
                paths.Add(new ArrayValue([.. path]));
                return;
            }
            path.Add(node);
            onPath[node] = onPath.GetValueOrDefault(node) + 1;
            var next = Neighbours(edges);
            if (next.Count == 0)
            {
                paths.Add(new ArrayValue([.. path]));
                Leave();
                return;
            }
            frames.Push((next, 0));
        }

        void Leave()
        {
            var last = path[^1];
            path.RemoveAt(path.Count - 1);
            if (--onPath[last] == 0) onPath.Remove(last);
        }

        Visit(start, ref steps);
        while (frames.Count > 0)
        {
            var (next, index) = frames.Pop();
            if (index == next.Count)
            {
                Leave();
                continue;
            }
            frames.Push((next, index + 1));
            var node = next[index];
            if (onPath.ContainsKey(node)) paths.Add(new ArrayValue([.. path]));
            else Visit(node, ref steps);
        }
    }
}
