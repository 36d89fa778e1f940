using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace FusedOpt;

/// <summary>
/// Every optimizer declaration loaded in the process, by name. Generated code registers each declaration from a
/// module initializer, so an assembly's optimizers are listed as soon as the assembly is loaded.
/// </summary>
public static class OptimizerCatalog
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, List<Entry>> ByName = new(StringComparer.OrdinalIgnoreCase);

    private sealed record Entry(OptimizerDescriptor Descriptor, string Assembly);

    /// <summary>Registers a declaration whose assembly is not known (see <see cref="Register(OptimizerDescriptor, Type)"/>).</summary>
    public static void Register(OptimizerDescriptor descriptor) => Register(descriptor, null);

    /// <summary>
    /// Registers a declaration; <paramref name="declaringType"/> is the record (its assembly is named when two
    /// declarations share a name). Registration never throws — it runs in a module initializer, before <c>Main</c>, where
    /// an exception would kill the process with no useful message. Two declarations with one name (from different
    /// assemblies; within one compilation the generator reports FOPT018) are both kept, and looking the name up throws
    /// an error naming both types and their assemblies. Registering the same type again replaces it.
    /// </summary>
    public static void Register(OptimizerDescriptor descriptor, Type? declaringType)
    {
        if (descriptor is null)
        {
            return;
        }

        string assembly = declaringType?.Assembly.GetName().Name ?? "unknown assembly";
        lock (Gate)
        {
            if (!ByName.TryGetValue(descriptor.Name, out var entries))
            {
                ByName[descriptor.Name] = entries = [];
            }

            entries.RemoveAll(e => e.Descriptor.TypeName == descriptor.TypeName && e.Assembly == assembly);
            entries.Add(new Entry(descriptor, assembly));
        }
    }

    /// <summary>All registered declarations, ordered by name (a duplicated name lists each of its declarations).</summary>
    public static IReadOnlyList<OptimizerDescriptor> All
    {
        get
        {
            lock (Gate)
            {
                return [.. ByName.Values.SelectMany(static e => e).Select(static e => e.Descriptor).OrderBy(static d => d.Name, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Names declared more than once, each with its declarations as "Type (Assembly)".</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Duplicates
    {
        get
        {
            lock (Gate)
            {
                return ByName.Where(static kv => kv.Value.Count > 1)
                    .ToDictionary(static kv => kv.Key, static kv => (IReadOnlyList<string>)[.. kv.Value.Select(Describe)], StringComparer.OrdinalIgnoreCase);
            }
        }
    }

    /// <summary>
    /// Finds a declaration by name (case-insensitive). Throws <see cref="InvalidOperationException"/> when two loaded
    /// assemblies declare the name, naming both types and assemblies.
    /// </summary>
    public static bool TryGet(string name, out OptimizerDescriptor descriptor)
    {
        lock (Gate)
        {
            if (!ByName.TryGetValue(name, out var entries) || entries.Count == 0)
            {
                descriptor = null!;
                return false;
            }

            if (entries.Count > 1)
            {
                throw new InvalidOperationException(
                    $"Two optimizers are named '{entries[0].Descriptor.Name}': {string.Join(" and ", entries.Select(Describe))}. Rename one of them.");
            }

            descriptor = entries[0].Descriptor;
            return true;
        }
    }

    private static string Describe(Entry e) => $"{e.Descriptor.TypeName} ({e.Assembly})";

    /// <summary>Finds a declaration by name or throws an error that lists the known names.</summary>
    public static OptimizerDescriptor Get(string name) =>
        TryGet(name, out var d) ? d
        : throw new KeyNotFoundException($"Unknown optimizer '{name}'. Known optimizers: {string.Join(", ", All.Select(static x => x.Name).Distinct())}.");

    /// <summary>
    /// Creates a rule from named hyperparameters (PascalCase or snake_case); the others keep their defaults.
    /// Unknown names and out-of-range values are errors naming the value.
    /// </summary>
    public static IOptimizerRule Create(string name, IReadOnlyDictionary<string, double>? hyperparameters = null)
    {
        var d = Get(name);
        var values = d.Hyperparameters.Select(static h => h.Default).ToArray();
        if (hyperparameters is not null)
        {
            foreach (var (key, value) in hyperparameters)
            {
                int i = d.IndexOfHyperparameter(key);
                if (i < 0)
                {
                    throw new HyperparameterException(
                        $"{d.Name}: unknown hyperparameter '{key}'. Known: {string.Join(", ", d.Hyperparameters.Select(static h => h.SnakeName))}.", key);
                }

                values[i] = value;
            }
        }

        var rule = d.Create(values);
        rule.Validate();
        return rule;
    }
}
