using FusedOpt.Generator.Helpers;

namespace FusedOpt.Generator.Model;

/// <summary>
/// The parse stage's output: one declaration as read from the syntax and symbols, before analysis. Plain values only
/// (locations as <see cref="LocationInfo"/>), so that the incremental pipeline can compare it with the last run's.
/// </summary>
/// <param name="Namespace">Containing namespace, empty for the global one.</param>
/// <param name="TypeName">The record's name.</param>
/// <param name="Accessibility"><c>public</c> or <c>internal</c>.</param>
/// <param name="FileName">The declaring file's name, for the generated header.</param>
/// <param name="OptimizerName">The catalogue name from <c>[Optimizer]</c>.</param>
/// <param name="Torch">The <c>torch.optim</c> class, if named.</param>
/// <param name="Summary">The one-line summary, if given.</param>
/// <param name="Hypers">Hyperparameters in declaration order.</param>
/// <param name="States">Per-element states in declaration order.</param>
/// <param name="StepStates">Per-step states in declaration order.</param>
/// <param name="ParamName">The name of <c>ref float p</c>.</param>
/// <param name="GradName">The name of <c>float g</c>.</param>
/// <param name="StepName">The name of the step counter, if the rule takes one.</param>
/// <param name="Constraints">The <c>[Constraint]</c>s.</param>
/// <param name="Arguments">The parameters of <c>Update</c> in order, for the reference path.</param>
/// <param name="Body">The rule body as IR.</param>
/// <param name="StatementLocations">Where each statement is, indexed by <see cref="Stmt.Id"/> (for analysis diagnostics).</param>
/// <param name="UpdateLocation">The name of <c>Update</c> (for diagnostics about the whole rule).</param>
/// <param name="AttributeLocation">The <c>[Optimizer]</c> attribute (for a duplicate catalogue name).</param>
internal sealed record ParsedRule(
    string Namespace,
    string TypeName,
    string Accessibility,
    string FileName,
    string OptimizerName,
    string? Torch,
    string? Summary,
    EquatableArray<HyperModel> Hypers,
    EquatableArray<StateModel> States,
    EquatableArray<StepStateModel> StepStates,
    string ParamName,
    string GradName,
    string? StepName,
    EquatableArray<ConstraintModel> Constraints,
    EquatableArray<UpdateArgument> Arguments,
    EquatableArray<Stmt> Body,
    EquatableArray<LocationInfo> StatementLocations,
    LocationInfo? UpdateLocation,
    LocationInfo? AttributeLocation);

/// <summary>
/// The analysis stage's output: the model to emit (null when the declaration has errors), every diagnostic of parse
/// and analysis, and what the catalogue-name check needs (the name and where the attribute is).
/// </summary>
internal sealed record AnalysedRule(RuleModel? Model, EquatableArray<DiagnosticInfo> Diagnostics, string OptimizerName, string QualifiedTypeName, LocationInfo? AttributeLocation);
