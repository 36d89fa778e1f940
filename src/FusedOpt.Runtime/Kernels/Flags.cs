namespace FusedOpt.Kernels;

/// <summary>
/// A compile-time switch for generated kernels. Kernels are generic over structs implementing this interface;
/// the JIT specialises each instantiation and folds <c>if (TFlag.IsOn)</c> away, so a switch such as
/// <c>Amsgrad</c> costs nothing inside the element loop.
/// </summary>
public interface IFlag
{
    /// <summary>The switch's value, a JIT-time constant.</summary>
    static abstract bool IsOn { get; }
}

/// <summary>The switch is on.</summary>
public readonly struct On : IFlag
{
    /// <inheritdoc />
    public static bool IsOn => true;
}

/// <summary>The switch is off.</summary>
public readonly struct Off : IFlag
{
    /// <inheritdoc />
    public static bool IsOn => false;
}
