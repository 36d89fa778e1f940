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
        for (int i = 0; i < _flags.Length; i++)
        {
            string candidate = model.Plan.Flags[i].Condition is RefExpr { Kind: NameKind.Hyper } r
                ? "T" + r.Name
                : "T" + (i + 1).ToString(CultureInfo.InvariantCulture);
            _flags[i] = Get(candidate);
        }

        ScaleFlag = Get("TScale");
        Width = Get("TWidth");
    }

    public RuleModel Model { get; }

    /// <summary>Type parameter of the gradient-scale switch (bit 0).</summary>
    public string ScaleFlag { get; }

    /// <summary>Type parameter selecting the width in the dispatch chain.</summary>
    public string Width { get; }

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

    /// <summary>The kernel variable for a rule reference.</summary>
    public static string Variable(RefExpr r) => r.Name;

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
