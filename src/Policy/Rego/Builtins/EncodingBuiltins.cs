namespace Sandbox.Policy.Rego;

/// <summary>json.marshal, json.unmarshal, json.is_valid.</summary>
internal static class EncodingBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("json.marshal", 1, (a, _) => Value.String(a[0].ToJson()));
        t.Register("json.unmarshal", 1, (a, _) =>
        {
            try
            {
                return ValueJson.Parse(BuiltinTable.Str(a, 0, "json.unmarshal"));
            }
            catch (RegoException e)
            {
                throw new BuiltinException($"json.unmarshal: {e.Message}");
            }
        });
        t.Register("json.is_valid", 1, (a, _) =>
        {
            if (a[0] is not StringValue s) return Value.False;
            try
            {
                ValueJson.Parse(s.V);
                return Value.True;
            }
            catch (RegoException)
            {
                return Value.False;
            }
        });
    }
}
