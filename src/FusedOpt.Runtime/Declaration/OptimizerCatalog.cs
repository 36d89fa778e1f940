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
    private static readonly Dictionary<string, OptimizerDescriptor> ByName = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Registers a declaration. A second declaration with the same name from another type is an error.</summary>
    public static void Register(OptimizerDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        lock (Gate)
        {
            if (ByName.TryGetValue(descriptor.Name, out var existing) && existing.TypeName != descriptor.TypeName)
            {
                throw new InvalidOperationException(
                    $"Two optimizers are named '{descriptor.Name}': {existing.TypeName} and {descriptor.TypeName}. Rename one of them.");
            }

            ByName[descriptor.Name] = descriptor;
        }
    }

    /// <summary>All registered declarations, ordered by name.</summary>
    public static IReadOnlyList<OptimizerDescriptor> All
    {
        get
        {
            lock (Gate)
            {
                return [.. ByName.Values.OrderBy(static d => d.Name, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Finds a declaration by name (case-insensitive).</summary>
    public static bool TryGet(string name, out OptimizerDescriptor descriptor)
    {
        lock (Gate)
        {
            return ByName.TryGetValue(name, out descriptor!);
        }
    }

    /// <summary>Finds a declaration by name or throws an error that lists the known names.</summary>
    public static OptimizerDescriptor Get(string name) =>
        TryGet(name, out var d) ? d
        : throw new KeyNotFoundException($"Unknown optimizer '{name}'. Known optimizers: {string.Join(", ", All.Select(static x => x.Name))}.");

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
