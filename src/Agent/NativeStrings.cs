using System.Runtime.InteropServices;
using System.Text;

namespace Sandbox.Agent;

/// <summary>NUL-terminated UTF-8 strings and string arrays in native memory, freed together.</summary>
internal sealed unsafe class NativeStrings : IDisposable
{
    private readonly List<nint> _blocks = [];

    public byte* Add(string value)
    {
        int len = Encoding.UTF8.GetByteCount(value);
        var p = (byte*)NativeMemory.Alloc((nuint)len + 1);
        _blocks.Add((nint)p);
        fixed (char* c = value) Encoding.UTF8.GetBytes(c, value.Length, p, len);
        p[len] = 0;
        return p;
    }

    /// <summary>A NULL-terminated char* array.</summary>
    public byte** AddArray(IReadOnlyList<string> values)
    {
        var array = (byte**)NativeMemory.Alloc((nuint)(values.Count + 1), (nuint)sizeof(byte*));
        _blocks.Add((nint)array);
        for (int i = 0; i < values.Count; i++) array[i] = Add(values[i]);
        array[values.Count] = null;
        return array;
    }

    public void Dispose()
    {
        foreach (var block in _blocks) NativeMemory.Free((void*)block);
        _blocks.Clear();
    }

    /// <summary>Runs <paramref name="action"/> with <paramref name="value"/> as a NUL-terminated UTF-8 string.</summary>
    public static T With<T>(string value, Func<nint, T> action)
    {
        using var strings = new NativeStrings();
        return action((nint)strings.Add(value));
    }
}
