namespace Sandbox.Policy.Rego;

/// <summary>
/// graph.reachable(graph, initial): the nodes reachable from the initial ones (an array or set) in a graph given as
/// an object from node to its neighbours (an array or set). A node counts once it is a key of the graph, so an
/// initial node the graph does not name is not in the result (as in OPA).
/// </summary>
internal static class GraphBuiltins
{
    private const string Fn = "graph.reachable";

    public static void Register(BuiltinTable t) => t.Register(Fn, 2, (a, _) =>
    {
        var graph = BuiltinTable.Obj(a, 0, Fn);
        var queue = new Queue<Value>(BuiltinTable.Elems(a, 1, Fn));
        var reached = new HashSet<Value>();
        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            if (reached.Contains(node) || graph.Get(node) is not { } edges) continue;
            reached.Add(node);
            // Neighbours are an array or a set; anything else (null included) has none, as in OPA.
            if (edges is ArrayValue or SetValue)
                foreach (var next in BuiltinTable.Elems([edges], 0, Fn)) queue.Enqueue(next);
        }
        return new SetValue(reached);
    });
}
