using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;

namespace FusedOpt.Tests;

/// <summary>
/// Emits a generator run's output compilation to memory and loads it into a collectible
/// <see cref="AssemblyLoadContext"/>, so a test can run what the generator emitted. FusedOpt.Runtime (and ILGPU)
/// resolve to the copies this test process already loaded, so the loaded rules are ordinary
/// <see cref="IOptimizerRule"/>s.
/// </summary>
internal static class RuleLoader
{
    private static int _counter;

    /// <summary>Loads the compiled output; throws with the compiler's errors when it does not compile.</summary>
    public static Assembly Load(GeneratorHarness.Run run, string? assemblyName = null)
    {
        var compilation = run.Output.WithAssemblyName(assemblyName ?? "FuzzRules" + System.Threading.Interlocked.Increment(ref _counter).ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var stream = new MemoryStream();
        var result = compilation.Emit(stream);
        if (!result.Success)
        {
            throw new InvalidOperationException("The generated code does not compile:\n" +
                string.Join("\n", result.Diagnostics.Where(static d => d.Severity == DiagnosticSeverity.Error).Take(10)));
        }

        stream.Position = 0;
        var context = new AssemblyLoadContext(compilation.AssemblyName, isCollectible: true);
        var assembly = context.LoadFromStream(stream);
        RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);
        return assembly;
    }

    /// <summary>The descriptor of the one generated rule type named <paramref name="typeName"/> in <paramref name="assembly"/>.</summary>
    public static OptimizerDescriptor Descriptor(Assembly assembly, string typeName)
    {
        var type = assembly.GetTypes().Single(t => t.Name == typeName);
        return (OptimizerDescriptor)type.GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
    }
}
