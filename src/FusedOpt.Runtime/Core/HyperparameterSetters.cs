using System;
using System.Collections.Concurrent;
using System.Reflection;

namespace FusedOpt;

/// <summary>
/// Writes one hyperparameter of a generated rule record in place, through the record's own <c>init</c> accessor (which
/// checks the range: <c>adam: Lr must be ≥ 0, got -1.</c>), so that a schedule setting <c>lr</c> every step neither
/// allocates nor rebuilds the record. Used only on the private copy an <see cref="OptimizerCore"/> owns.
/// </summary>
/// <remarks>
/// The generated prologue reads the record's fields, so writing the field is what makes the next <c>Prepare</c> see
/// the value. An <c>init</c> accessor is an ordinary method at run time; C# forbids calling it after construction,
/// which is why this is done only on an instance nobody else can see. A rule without such accessors (not generated,
/// or a record struct) gets no setter and the core rebuilds it instead. The setters are made once per record type.
/// </remarks>
internal sealed class HyperparameterSetters
{
    private static readonly ConcurrentDictionary<Type, HyperparameterSetters> Cache = new();

    private readonly Setter?[] _setters;
    private readonly OptimizerDescriptor _descriptor;

    private HyperparameterSetters(OptimizerDescriptor descriptor, Type type)
    {
        _descriptor = descriptor;
        _setters = new Setter?[descriptor.Hyperparameters.Count];
        if (type.IsValueType)
        {
            return;
        }

        for (int i = 0; i < _setters.Length; i++)
        {
            var info = descriptor.Hyperparameters[i];
            var valueType = info.Kind switch
            {
                HyperparameterKind.Float => typeof(float),
                HyperparameterKind.Double => typeof(double),
                HyperparameterKind.Int => typeof(int),
                _ => typeof(bool),
            };
            var property = type.GetProperty(info.Name, BindingFlags.Public | BindingFlags.Instance, null, valueType, Type.EmptyTypes, null);
            if (property?.SetMethod is { } set && Array.IndexOf(set.ReturnParameter.GetRequiredCustomModifiers(), typeof(System.Runtime.CompilerServices.IsExternalInit)) >= 0)
            {
                _setters[i] = (Setter)Activator.CreateInstance(typeof(Setter<,>).MakeGenericType(type, valueType), set)!;
            }
        }
    }

    /// <summary>The setters of <paramref name="type"/>, a rule of <paramref name="descriptor"/>.</summary>
    public static HyperparameterSetters For(OptimizerDescriptor descriptor, Type type) =>
        Cache.GetOrAdd(type, static (t, d) => new HyperparameterSetters(d, t), descriptor);

    /// <summary>True when hyperparameter <paramref name="index"/> can be written in place.</summary>
    public bool CanSet(int index) => _setters[index] is not null;

    /// <summary>
    /// Writes <paramref name="values"/>[<paramref name="index"/>] into <paramref name="rule"/>, converted as
    /// <see cref="OptimizerDescriptor.Create"/> converts it (a float32 that cannot hold 1e300, an int with a fraction and a
    /// bool other than 0 or 1 are refused) and range-checked by the accessor.
    /// </summary>
    public void Set(IOptimizerRule rule, double[] values, int index) => _setters[index]!.Set(rule, _descriptor, values, index);

    private abstract class Setter
    {
        public abstract void Set(IOptimizerRule rule, OptimizerDescriptor descriptor, double[] values, int index);
    }

    private sealed class Setter<TRule, TValue> : Setter
        where TRule : class, IOptimizerRule
    {
        private readonly Action<TRule, TValue> _set;

        public Setter(MethodInfo set) => _set = set.CreateDelegate<Action<TRule, TValue>>();

        public override void Set(IOptimizerRule rule, OptimizerDescriptor descriptor, double[] values, int index)
        {
            var target = (TRule)rule;
            if (typeof(TValue) == typeof(float))
            {
                float v = descriptor.ToFloat(values, index);
                ((Action<TRule, float>)(object)_set)(target, v);
            }
            else if (typeof(TValue) == typeof(double))
            {
                double v = descriptor.ToDouble(values, index);
                ((Action<TRule, double>)(object)_set)(target, v);
            }
            else if (typeof(TValue) == typeof(int))
            {
                int v = descriptor.ToInt(values, index);
                ((Action<TRule, int>)(object)_set)(target, v);
            }
            else
            {
                bool v = descriptor.ToBool(values, index);
                ((Action<TRule, bool>)(object)_set)(target, v);
            }
        }
    }
}
