using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace FusedOpt.Generator;

/// <summary>
/// Every diagnostic FusedOpt.Generator reports. IDs are stable and never reused; docs/diagnostics.md shows a
/// minimal declaration that triggers each one.
/// </summary>
internal static class Diagnostics
{
    private const string Category = "FusedOpt";

    /// <summary>FOPT000: "FusedOpt.Generator failed on '{0}': {1}. This is a bug; please report it."</summary>
    public static readonly DiagnosticDescriptor InternalError = Error("FOPT000", "Internal generator error",
        "FusedOpt.Generator failed on '{0}': {1}. This is a bug; please report it.");

    /// <summary>FOPT001: "The optimizer declaration '{0}' must be a partial record so that its kernels can be generated".</summary>
    public static readonly DiagnosticDescriptor NotPartial = Error("FOPT001", "Optimizer declaration must be partial",
        "The optimizer declaration '{0}' must be a partial record so that its kernels can be generated");

    /// <summary>FOPT002: "'{0}' needs an update rule 'void Update(ref float p, float g, …)': {1}".</summary>
    public static readonly DiagnosticDescriptor MissingUpdate = Error("FOPT002", "Missing or invalid Update method",
        "'{0}' needs an update rule 'void Update(ref float p, float g, …)': {1}");

    /// <summary>FOPT003: "The update rule cannot contain '{0}': only local declarations, assignments and if/else are supported".</summary>
    public static readonly DiagnosticDescriptor UnsupportedStatement = Error("FOPT003", "Unsupported statement in update rule",
        "The update rule cannot contain '{0}': only local declarations, assignments and if/else are supported");

    /// <summary>FOPT004: "The update rule cannot use '{0}': {1}".</summary>
    public static readonly DiagnosticDescriptor UnsupportedExpression = Error("FOPT004", "Unsupported expression in update rule",
        "The update rule cannot use '{0}': {1}");

    /// <summary>FOPT005: "The update rule assigns to '{0}', which is {1}; only p, g, states and locals can be assigned".</summary>
    public static readonly DiagnosticDescriptor ReadOnlyAssignment = Error("FOPT005", "Assignment to a read-only value",
        "The update rule assigns to '{0}', which is {1}; only p, g, states and locals can be assigned");

    /// <summary>FOPT006: "'{0}' is not a hyperparameter, a state, p, g, t or a local of the update rule".</summary>
    public static readonly DiagnosticDescriptor UnknownIdentifier = Error("FOPT006", "Unknown identifier in update rule",
        "'{0}' is not a hyperparameter, a state, p, g, t or a local of the update rule");

    /// <summary>FOPT007: "Hyperparameter '{0}' has type '{1}'; supported types are float, double, int and bool".</summary>
    public static readonly DiagnosticDescriptor UnsupportedHyperparameterType = Error("FOPT007", "Unsupported hyperparameter type",
        "Hyperparameter '{0}' has type '{1}'; supported types are float, double, int and bool");

    /// <summary>FOPT008: "Parameter '{0}' of Update: {1}".</summary>
    public static readonly DiagnosticDescriptor InvalidRuleParameter = Error("FOPT008", "Invalid update rule parameter",
        "Parameter '{0}' of Update: {1}");

    /// <summary>FOPT009: "Per-step state '{0}' is assigned a value that depends on per-element data …".</summary>
    public static readonly DiagnosticDescriptor StepStateDependsOnElement = Error("FOPT009", "Per-step state depends on per-element data",
        "Per-step state '{0}' is assigned a value that depends on per-element data or inside a per-element condition; a per-step state may only depend on hyperparameters, t and other per-step values");

    /// <summary>FOPT010: "The update rule of '{0}' uses {1}, which has no vector form; …".</summary>
    public static readonly DiagnosticDescriptor NotVectorizable = Warning("FOPT010", "Update rule falls back to scalar code",
        "The update rule of '{0}' uses {1}, which has no vector form; the Vector512 and Vector256 paths fall back to the scalar loop");

    /// <summary>FOPT011: "'{0}' declares {1} {2}; at most {3} are supported".</summary>
    public static readonly DiagnosticDescriptor TooMany = Error("FOPT011", "Too many states or switches",
        "'{0}' declares {1} {2}; at most {3} are supported");

    /// <summary>FOPT012: "'{0}' converts a per-element value to {1}; per-element arithmetic is float32".</summary>
    public static readonly DiagnosticDescriptor ElementNotFloat = Error("FOPT012", "Per-element value outside float32",
        "'{0}' converts a per-element value to {1}; per-element arithmetic is float32");

    /// <summary>FOPT013: "The default {1} of hyperparameter '{0}' is outside its range {2}".</summary>
    public static readonly DiagnosticDescriptor DefaultOutOfRange = Warning("FOPT013", "Hyperparameter default outside its range",
        "The default {1} of hyperparameter '{0}' is outside its range {2}");

    /// <summary>FOPT014: "Hyperparameter '{0}': {1}".</summary>
    public static readonly DiagnosticDescriptor InvalidHyperparameter = Error("FOPT014", "Invalid hyperparameter declaration",
        "Hyperparameter '{0}': {1}");

    /// <summary>FOPT015: "Constraint '{0}' is not valid: {1}".</summary>
    public static readonly DiagnosticDescriptor InvalidConstraint = Error("FOPT015", "Invalid constraint",
        "Constraint '{0}' is not valid: {1}");

    /// <summary>FOPT016: "'{0}' cannot be an optimizer declaration: {1}".</summary>
    public static readonly DiagnosticDescriptor InvalidDeclaration = Error("FOPT016", "Unsupported declaration shape",
        "'{0}' cannot be an optimizer declaration: {1}");

    /// <summary>FOPT017: "Optimizer name '{0}' is not valid: use lower-case letters, digits and '-' …".</summary>
    public static readonly DiagnosticDescriptor InvalidName = Error("FOPT017", "Invalid optimizer name",
        "Optimizer name '{0}' is not valid: use lower-case letters, digits and '-', starting with a letter (e.g. \"adam\", \"sgd-ema\")");

    /// <summary>FOPT018: "Optimizer name '{0}' is declared by both '{1}' and '{2}'".</summary>
    public static readonly DiagnosticDescriptor DuplicateName = Error("FOPT018", "Duplicate optimizer name",
        "Optimizer name '{0}' is declared by both '{1}' and '{2}'");

    /// <summary>FOPT019: "State '{0}' starts from '{1}', which is not a hyperparameter".</summary>
    public static readonly DiagnosticDescriptor UnknownInitialFrom = Error("FOPT019", "Unknown hyperparameter in InitialFrom",
        "State '{0}' starts from '{1}', which is not a hyperparameter");

    /// <summary>FOPT020: "State '{0}' is declared but the update rule never uses it".</summary>
    public static readonly DiagnosticDescriptor UnusedState = Warning("FOPT020", "Unused state",
        "State '{0}' is declared but the update rule never uses it");

    /// <summary>FOPT021: "The update rule of '{0}' needs {1} step scalars; a GPU kernel carries at most {2}, so none is generated".</summary>
    public static readonly DiagnosticDescriptor NoGpuKernel = Warning("FOPT021", "No GPU kernel",
        "The update rule of '{0}' needs {1} step scalars; a GPU kernel carries at most {2}, so none is generated");

    /// <summary>FOPT022: "'{0}' ({1}) has a name the generated code uses for its own members or types; rename it".</summary>
    public static readonly DiagnosticDescriptor ReservedName = Error("FOPT022", "Name reserved by the generated code",
        "'{0}' ({1}) has a name the generated code uses for its own members or types; rename it");

    /// <summary>FOPT023: "This {0} is nested {1} levels deep; the update rule allows at most {2} …".</summary>
    public static readonly DiagnosticDescriptor TooDeep = Error("FOPT023", "Update rule nested too deeply",
        "This {0} is nested {1} levels deep; the update rule allows at most {2}: split it into locals");

    /// <summary>FOPT024: "The update rule of '{0}' has {1} switches ({2} combinations); HLSL shaders are generated for at most {3}, so none is".</summary>
    public static readonly DiagnosticDescriptor NoHlslShader = new("FOPT024", "No HLSL shaders",
        "The update rule of '{0}' has {1} switches ({2} combinations); HLSL shaders are generated for rules with at most {3} switches, so it has none",
        Category, DiagnosticSeverity.Info, isEnabledByDefault: true,
        helpLinkUri: "https://github.com/fusedopt/fusedopt/blob/main/docs/diagnostics.md#fopt024");

    /// <summary>FOPT025: "State '{0}' is declared [NonNegative] but {1}".</summary>
    public static readonly DiagnosticDescriptor NegativeStartOfNonNegativeState = Error("FOPT025", "Non-negative state starts negative",
        "State '{0}' is declared [NonNegative] but {1}");

    /// <summary>FOPT026: "State '{0}' is declared [NonNegative], but this assignment may make it negative: {1}".</summary>
    public static readonly DiagnosticDescriptor NonNegativeStateMayBeNegative = Warning("FOPT026", "Non-negative state may become negative",
        "State '{0}' is declared [NonNegative], but this assignment may make it negative: {1}");

    public static readonly IReadOnlyList<DiagnosticDescriptor> All =
    [
        InternalError, NotPartial, MissingUpdate, UnsupportedStatement, UnsupportedExpression, ReadOnlyAssignment,
        UnknownIdentifier, UnsupportedHyperparameterType, InvalidRuleParameter, StepStateDependsOnElement,
        NotVectorizable, TooMany, ElementNotFloat, DefaultOutOfRange, InvalidHyperparameter, InvalidConstraint,
        InvalidDeclaration, InvalidName, DuplicateName, UnknownInitialFrom, UnusedState, NoGpuKernel, ReservedName, TooDeep, NoHlslShader,
        NegativeStartOfNonNegativeState, NonNegativeStateMayBeNegative,
    ];

    private static readonly Dictionary<string, DiagnosticDescriptor> Map = All.ToDictionary(static d => d.Id);

    public static DiagnosticDescriptor ById(string id) => Map[id];

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
            helpLinkUri: "https://github.com/fusedopt/fusedopt/blob/main/docs/diagnostics.md#" + id.ToLowerInvariant());

    private static DiagnosticDescriptor Warning(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true,
            helpLinkUri: "https://github.com/fusedopt/fusedopt/blob/main/docs/diagnostics.md#" + id.ToLowerInvariant());
}
