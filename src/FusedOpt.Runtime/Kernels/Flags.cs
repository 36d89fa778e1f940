using System.ComponentModel;

namespace FusedOpt.Kernels;

/// <summary>
/// A compile-time switch for generated kernels. Kernels are generic over structs implementing this interface;
/// the JIT specialises each instantiation and folds <c>if (TFlag.IsOn)</c> away, so a switch such as
/// <c>Amsgrad</c> costs nothing inside the element loop.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IFlag
{
    /// <summary>The switch's value, a JIT-time constant.</summary>
    static abstract bool IsOn { get; }
}

/// <summary>The switch is on.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct On : IFlag
{
    /// <inheritdoc />
    public static bool IsOn => true;
}

/// <summary>The switch is off.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct Off : IFlag
{
    /// <inheritdoc />
    public static bool IsOn => false;
}
