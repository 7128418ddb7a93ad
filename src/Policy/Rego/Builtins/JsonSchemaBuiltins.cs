using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>
/// json.verify_schema(schema) and json.match_schema(document, schema): JSON Schema validation with the results and
/// messages of the library OPA uses (gojsonschema). The keywords implemented are the structural ones: type,
/// properties, required, additionalProperties, items, enum, const, minimum/maximum (and the exclusive forms),
/// minLength/maxLength, pattern, minItems/maxItems, uniqueItems, minProperties/maxProperties; annotations ($schema,
/// $id, id, title, description, default, examples, $comment, definitions) are ignored. Any other keyword ($ref,
/// allOf, anyOf, oneOf, not, format, dependencies, patternProperties, if/then/else, ...) is a builtin error naming it,
/// so a schema is never judged by half its rules.
/// </summary>
internal static class JsonSchemaBuiltins
{
    private static readonly string[] PrimitiveTypes = ["array", "boolean", "integer", "number", "null", "object", "string"];

    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "$schema", "$id", "id", "title", "description", "default", "examples", "$comment", "definitions",
    };

    private static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "type", "properties", "required", "additionalProperties", "items", "enum", "const", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
        "uniqueItems", "minProperties", "maxProperties",
    };

    public static void Register(BuiltinTable t)
    {
        t.Register("json.verify_schema", 1, (a, _) =>
        {
            var schema = Parse(a[0], 1, "json.verify_schema");
            var problem = Check(schema);
            return new ArrayValue(problem is null ? [Value.True, Value.Null] : [Value.False, Value.String("jsonschema: " + problem)]);
        });
        t.Register("json.match_schema", 2, (a, _) =>
        {
            var document = Parse(a[0], 1, "json.match_schema");
            var schema = Parse(a[1], 2, "json.match_schema");
            if (Check(schema) is { } problem) throw new BuiltinException("json.match_schema: " + problem);
            var errors = new List<Value>();
            Validate(schema, document, "(root)", errors);
            return new ArrayValue([Value.Bool(errors.Count == 0), new ArrayValue([.. errors])]);
        });
    }

    /// <summary>A schema or document given as an object/array/... or as a JSON string.</summary>
    private static Value Parse(Value v, int operand, string fn)
    {
        if (v is not StringValue s) return v;
        try
        {
            return ValueJson.Parse(s.V);
        }
        catch (Exception e) when (e is RegoException or FormatException or System.Text.Json.JsonException)
        {
            throw new BuiltinException($"{fn}: operand {operand}: invalid JSON: {e.Message}");
        }
    }

    /// <summary>The schema's own validity: null when it is valid, else gojsonschema's message. Unsupported keywords throw.</summary>
    private static string? Check(Value schema)
    {
        if (schema is BoolValue) return null;
        if (schema is not ObjectValue o) return "Invalid type. Expected: object, given: " + TypeOf(schema);
        foreach (var (k, v) in o.Map)
        {
            var key = ((StringValue)k).V;
            if (Annotations.Contains(key)) continue;
            if (!Supported.Contains(key)) throw new BuiltinException($"json schema keyword '{key}' is not supported");
            switch (key)
            {
                case "type":
                    foreach (var t in v is ArrayValue arr ? arr.Items : [v])
                    {
                        if (t is not StringValue ts) throw new BuiltinException("json schema: type must be a string or an array of strings");
                        if (!PrimitiveTypes.Contains(ts.V))
                            return $"has a primitive type that is NOT VALID -- given: /{ts.V}/ Expected valid values are:[{string.Join(' ', PrimitiveTypes)}]";
                    }
                    break;
                case "properties":
                    if (v is not ObjectValue props) throw new BuiltinException("json schema: properties must be an object");
                    foreach (var sub in props.Map.Values) if (Check(sub) is { } p) return p;
                    break;
                case "additionalProperties" or "items":
                    if (v is ArrayValue) throw new BuiltinException($"json schema keyword '{key}' with an array is not supported");
                    if (Check(v) is { } q) return q;
                    break;
                case "required":
                    if (v is not ArrayValue req || req.Items.Any(i => i is not StringValue)) throw new BuiltinException("json schema: required must be an array of strings");
                    break;
                case "pattern":
                    if (v is not StringValue) throw new BuiltinException("json schema: pattern must be a string");
                    break;
                case "enum" or "const" or "uniqueItems":
                    break;
                default:
                    if (v is not NumberValue && !(v is BoolValue && key.StartsWith("exclusive", StringComparison.Ordinal)))
                        throw new BuiltinException($"json schema: {key} must be a number");
                    break;
            }
        }
        return null;
    }

    private static void Validate(Value schema, Value doc, string field, List<Value> errors)
    {
        if (schema is BoolValue b)
        {
            if (!b.V) Add(errors, field, "false_schema", "False always fails validation");
            return;
        }
        var s = (ObjectValue)schema;
        if (s.Get("type") is { } type)
        {
            var types = type is ArrayValue arr ? arr.Items.Select(t => ((StringValue)t).V).ToList() : [((StringValue)type).V];
            if (!types.Any(t => Is(t, doc)))
            {
                var expected = types.Count == 1 ? types[0] : "[" + string.Join(',', types) + "]";
                Add(errors, field, "invalid_type", $"Invalid type. Expected: {expected}, given: {TypeOf(doc)}");
                return;
            }
        }
        if (s.Get("const") is { } c && !c.Equals(doc)) Add(errors, field, "const", $"{field} does not match: {c.ToJson()}");
        if (s.Get("enum") is ArrayValue en && !en.Items.Contains(doc))
            Add(errors, field, "enum", $"{field} must be one of the following: {string.Join(", ", en.Items.Select(i => i.ToJson()))}");

        switch (doc)
        {
            case NumberValue n:
                ValidateNumber(s, n, field, errors);
                break;
            case StringValue str:
                var len = str.V.EnumerateRunes().Count();
                if (Int(s, "minLength") is { } minLen && len < minLen) Add(errors, field, "string_gte", $"String length must be greater than or equal to {minLen}");
                if (Int(s, "maxLength") is { } maxLen && len > maxLen) Add(errors, field, "string_lte", $"String length must be less than or equal to {maxLen}");
                if (s.Get("pattern") is StringValue pat && !PatternBuiltins.Match(PatternBuiltins.Compile(pat.V, "json.match_schema"), str.V, "json.match_schema"))
                    Add(errors, field, "pattern", $"Does not match pattern '{pat.V}'");
                break;
            case ArrayValue arr:
                if (Int(s, "minItems") is { } minItems && arr.Items.Length < minItems) Add(errors, field, "array_min_items", $"Array must have at least {minItems} items");
                if (Int(s, "maxItems") is { } maxItems && arr.Items.Length > maxItems) Add(errors, field, "array_max_items", $"Array must have at most {maxItems} items");
                if (s.Get("uniqueItems") is BoolValue { V: true })
                {
                    // As gojsonschema: each item equal to an earlier one is reported with the latest earlier index.
                    var seen = new Dictionary<Value, int>();
                    for (var j = 0; j < arr.Items.Length; j++)
                    {
                        if (seen.TryGetValue(arr.Items[j], out var i)) Add(errors, field, "unique", $"array items[{i},{j}] must be unique");
                        seen[arr.Items[j]] = j;
                    }
                }
                if (s.Get("items") is { } items)
                    for (var i = 0; i < arr.Items.Length; i++) Validate(items, arr.Items[i], Child(field, i.ToString(CultureInfo.InvariantCulture)), errors);
                break;
            case ObjectValue obj:
                if (Int(s, "minProperties") is { } minP && obj.Count < minP) Add(errors, field, "array_min_properties", $"Must have at least {minP} properties");
                if (Int(s, "maxProperties") is { } maxP && obj.Count > maxP) Add(errors, field, "array_max_properties", $"Must have at most {maxP} properties");
                if (s.Get("required") is ArrayValue req)
                    foreach (var r in req.Items)
                        if (obj.Get(r) is null) Add(errors, field, "required", $"{((StringValue)r).V} is required");
                var props = s.Get("properties") as ObjectValue;
                foreach (var k in obj.SortedKeys)
                {
                    var name = k is StringValue ks ? ks.V : k.ToJson();
                    if (props?.Get(k) is { } sub) Validate(sub, obj.Get(k)!, Child(field, name), errors);
                    else if (s.Get("additionalProperties") is { } additional)
                    {
                        if (additional is BoolValue { V: false })
                            Add(errors, field, "additional_property_not_allowed", $"Additional property {name} is not allowed");
                        else Validate(additional, obj.Get(k)!, Child(field, name), errors);
                    }
                }
                break;
        }
    }

    private static void ValidateNumber(ObjectValue s, NumberValue n, string field, List<Value> errors)
    {
        var v = n.V;
        if (s.Get("minimum") is NumberValue min)
        {
            var exclusive = s.Get("exclusiveMinimum") is BoolValue { V: true };
            if (exclusive ? v <= min.V : v < min.V)
                Add(errors, field, exclusive ? "number_gt" : "number_gte", $"Must be greater than {(exclusive ? "" : "or equal to ")}{Num(min)}");
        }
        if (s.Get("exclusiveMinimum") is NumberValue xmin && v <= xmin.V) Add(errors, field, "number_gt", $"Must be greater than {Num(xmin)}");
        if (s.Get("maximum") is NumberValue max)
        {
            var exclusive = s.Get("exclusiveMaximum") is BoolValue { V: true };
            if (exclusive ? v >= max.V : v > max.V)
                Add(errors, field, exclusive ? "number_lt" : "number_lte", $"Must be less than {(exclusive ? "" : "or equal to ")}{Num(max)}");
        }
        if (s.Get("exclusiveMaximum") is NumberValue xmax && v >= xmax.V) Add(errors, field, "number_lt", $"Must be less than {Num(xmax)}");
    }

    private static string Num(NumberValue n) => n.ToJson();

    private static long? Int(ObjectValue s, string key) => s.Get(key) is NumberValue n && n.TryGetInt(out var i) ? i : null;

    private static bool Is(string type, Value v) => type switch
    {
        "null" => v.Kind == ValueKind.Null,
        "boolean" => v is BoolValue,
        "string" => v is StringValue,
        "array" => v is ArrayValue,
        "object" => v is ObjectValue,
        "number" => v is NumberValue,
        "integer" => v is NumberValue n && IsInteger(n),
        _ => false,
    };

    private static bool IsInteger(NumberValue n) => n.IsInteger;

    private static string TypeOf(Value v) => v switch
    {
        NumberValue n => IsInteger(n) ? "integer" : "number",
        BoolValue => "boolean",
        StringValue => "string",
        ArrayValue => "array",
        ObjectValue => "object",
        _ => "null",
    };

    private static string Child(string field, string name) => field == "(root)" ? name : field + "." + name;

    /// <summary>One error as OPA reports it: {error, type, field, desc}.</summary>
    private static void Add(List<Value> errors, string field, string type, string desc) =>
        errors.Add(new X509Json.Obj()
            .Add("error", Value.String($"{field}: {desc}")).Add("type", Value.String(type))
            .Add("field", Value.String(field)).Add("desc", Value.String(desc)).Build());
}
