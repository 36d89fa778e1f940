using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FusedOpt.Generator.Model;

namespace FusedOpt.Generator.Emit;

/// <summary>
/// Names used in the generated kernels: the rule's own names for its variables, and generated names
/// (frame, index, pointers, switches) chosen so that they never collide with a name from the rule.
/// </summary>
internal sealed class KernelNames
{
    private readonly HashSet<string> _taken = new(System.StringComparer.Ordinal);
    private readonly Dictionary<string, string> _generated = new(System.StringComparer.Ordinal);
    private readonly string[] _flags;

    public KernelNames(RuleModel model)
    {
        Model = model;
        foreach (var h in model.Hypers)
        {
            _taken.Add(h.Name);
        }

        foreach (var s in model.States)
        {
            _taken.Add(s.Name);
        }

        foreach (var s in model.StepStates)
        {
            _taken.Add(s.Name);
        }

        _taken.Add(model.ParamName);
        _taken.Add(model.GradName);
        if (model.StepName is not null)
        {
            _taken.Add(model.StepName);
        }

        foreach (var l in model.Plan.ElementLocals)
        {
            _taken.Add(l);
        }

        foreach (var h in model.Plan.Hoists)
        {
            _taken.Add(h.Name);
        }

        CollectLocals(model.Plan.Body);
        _flags = new string[model.Plan.Flags.Count];
        var candidates = new HashSet<string>(System.StringComparer.Ordinal);
        for (int i = 0; i < _flags.Length; i++)
        {
            string wanted = SwitchName(model.Plan.Flags[i].Condition, i), candidate = wanted;
            for (int k = 2; !candidates.Add(candidate); k++)
            {
                candidate = wanted + k.ToString(CultureInfo.InvariantCulture);
            }

            _flags[i] = Get(candidate);
        }

        ScaleFlag = Get("TScale");
        Width = Get("TWidth");
        States = Get("TStates");
    }

    /// <summary>
    /// Names the generated partial declares as members (<c>Descriptor</c>, <c>Scalar</c>, …) or uses as simple names
    /// in its bodies (types such as <c>MathF</c>, <c>Vector512</c>, <c>Unsafe</c>; namespaces). A hyperparameter, a
    /// state, p, g or t with one of these names would change what the generated code means, so it is reported
    /// (FOPT022); a local with one of them is renamed. <c>HardeningTests</c> checks that every simple name the emitted
    /// code uses outside a type-only context is in this set, a rule name, or declared by the generated code itself.
    /// </summary>
    public static readonly System.Collections.Generic.IReadOnlyCollection<string> Reserved = new HashSet<string>(System.StringComparer.Ordinal)
    {
        // Members of the generated partial.
        "Descriptor", "Validate", "GetHyperparameters", "GpuKernel", "RegisterInOptimizerCatalog", "Run", "Scalar",
        "Fused512", "Fused256", "DispatchStates", "Dispatch0", "Dispatch1", "Dispatch2", "Dispatch3", "Dispatch4", "Dispatch5",
        "Dispatch6", "Dispatch7", "Dispatch8", "Dispatch9", "Update", "FusedOptCheckHyperparameters", "FusedOptValidated", "FusedOptCreate", "FusedOptHlsl",

        // Types whose members the bodies call (expression context). Types named only where a type is expected (On,
        // Width512, StepFrame, Span, nint) need no reservation: a property or local never hides a type there.
        "Math", "MathF", "Vector512", "Vector256", "Unsafe", "MemoryMarshal", "Isa", "StepMath", "SimdMath", "NaiveOps",
        "OptimizerCatalog", "HyperparameterKind", "HyperparameterException", "MethodImplOptions", "StateAccessFlags",
    };

    /// <summary>True for a name in <see cref="Reserved"/> or starting with <c>FusedOpt</c> (the generated members' prefix).</summary>
    public static bool IsReserved(string name) => Reserved.Contains(name) || name.StartsWith("FusedOpt", System.StringComparison.Ordinal);

    public RuleModel Model { get; }

    /// <summary>Type parameter of the gradient-scale switch (bit 0).</summary>
    public string ScaleFlag { get; }

    /// <summary>Type parameter selecting the width in the dispatch chain.</summary>
    public string Width { get; }

    /// <summary>Type parameter of the CPU loops saying how per-element states are stored (<c>IStateAccess</c>).</summary>
    public string States { get; }

    /// <summary>All switch type parameters in bit order: the scale switch, then the rule's.</summary>
    public IEnumerable<string> AllFlags => new[] { ScaleFlag }.Concat(_flags);

    /// <summary>Type parameter of rule switch <paramref name="index"/> (bit index + 1).</summary>
    public string Flag(int index) => _flags[index];

    /// <summary>A generated name: <paramref name="wanted"/> unless the rule uses it, then with '_' appended.</summary>
    public string Get(string wanted)
    {
        if (_generated.TryGetValue(wanted, out var existing))
        {
            return existing;
        }

        string name = wanted;
        while (_taken.Contains(name))
        {
            name += "_";
        }

        _taken.Add(name);
        _generated[wanted] = name;
        return name;
    }

    /// <summary>
    /// The type parameter of a switch, after what its condition tests: <c>Amsgrad</c> → <c>TAmsgrad</c>,
    /// <c>WeightDecay != 0</c> → <c>TWeightDecay</c>, <c>t == 1</c> → <c>TStep</c>, <c>!Rectify</c> → <c>TNotRectify</c>,
    /// <c>Nesterov &amp;&amp; Momentum &gt; 0</c> → <c>TNesterovMomentum</c>; <c>TSwitch</c> + bit when it tests no name.
    /// </summary>
    private static string SwitchName(Expr condition, int index)
    {
        string prefix = condition is UnaryExpr { Op: UnaryOp.Not } ? "Not" : "";
        var tested = new List<string>();
        Collect(condition);
        return tested.Count == 0
            ? "TSwitch" + (index + 1).ToString(CultureInfo.InvariantCulture)
            : "T" + prefix + string.Concat(tested.Take(2));

        void Collect(Expr e)
        {
            if (e is RefExpr { Kind: NameKind.Hyper or NameKind.StepState or NameKind.Local or NameKind.Step } r)
            {
                string part = r.Kind == NameKind.Step ? "Step" : char.ToUpperInvariant(r.Name[0]) + r.Name.Substring(1);
                if (!tested.Contains(part))
                {
                    tested.Add(part);
                }
            }

            foreach (var child in e.Children())
            {
                Collect(child);
            }
        }
    }

    /// <summary>The kernel variable for a rule reference.</summary>
    public static string Variable(RefExpr r) => Id(r.Name);

    /// <summary>
    /// A rule name as a C# identifier: <c>@checked</c> for a name that is a keyword (the rule wrote it with '@'; the
    /// compiler's symbol name has no '@'). Every emitter writes rule names through this.
    /// </summary>
    public static string Id(string name) =>
        Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetKeywordKind(name) != Microsoft.CodeAnalysis.CSharp.SyntaxKind.None ? "@" + name : name;

    /// <summary>The <c>ref float</c> variable holding a buffer's first element.</summary>
    public string BufferRef(string bufferName) => Get(bufferName + "Ref");

    private void CollectLocals(IEnumerable<Stmt> block)
    {
        foreach (var s in block)
        {
            switch (s)
            {
                case AssignStmt a when a.Kind == NameKind.Local:
                    _taken.Add(a.Target);
                    break;
                case IfStmt i:
                    CollectLocals(i.Then);
                    CollectLocals(i.Else);
                    break;
            }
        }
    }
}
