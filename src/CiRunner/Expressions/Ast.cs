namespace Sandbox.CiRunner.Expressions;

/// <summary>An expression's syntax tree. <see cref="Text"/> is the source of the node, for messages.</summary>
public abstract record Expr;

public sealed record LiteralExpr(ExprValue Value) : Expr;

/// <summary>A top-level named value: a context (github, env, matrix, ...).</summary>
public sealed record ContextExpr(string Name) : Expr;

/// <summary><c>target.name</c> or <c>target['name']</c> (Index holds the expression).</summary>
public sealed record MemberExpr(Expr Target, string Name) : Expr;

public sealed record IndexExpr(Expr Target, Expr Index) : Expr;

/// <summary><c>target.*</c> / <c>target[*]</c>: the values of an object or the items of an array, as a filtered array
/// on which later dereferences apply to each item.</summary>
public sealed record WildcardExpr(Expr Target) : Expr;

public sealed record NotExpr(Expr Operand) : Expr;

public enum BinaryOp { Or, And, Equal, NotEqual, Less, LessOrEqual, Greater, GreaterOrEqual }

public sealed record BinaryExpr(BinaryOp Op, Expr Left, Expr Right) : Expr;

public sealed record CallExpr(string Name, IReadOnlyList<Expr> Args) : Expr;

/// <summary>A string with <c>${{ }}</c> parts around other text, used as a condition: it is a string, so truthy
/// unless empty (GitHub's rule; <c>if: ${{ a }} == 'b'</c> is always true).</summary>
public sealed record TemplateExpr(TemplateString Template) : Expr;
