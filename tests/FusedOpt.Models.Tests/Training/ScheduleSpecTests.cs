using System;
using System.Collections.Generic;
using FusedOpt.Models.Training.Schedules;
using Xunit;

namespace FusedOpt.Tests.Training;

/// <summary>The compact spec: each form parses, round-trips through ToSpec and JSON, and each error names its token.</summary>
public sealed class ScheduleSpecTests
{
    public static TheoryData<string, LearningRateSchedule> Specs() => new()
    {
        { "constant", new ConstantSchedule() },
        { "step:150:0.1", new StepDecaySchedule([150], 0.1) },
        { "step:150,225:0.1", new StepDecaySchedule([150, 225], 0.1) },
        { "linear:tau=400,final=0.01", new LinearDecaySchedule(400, 0.01) },
        { "linear:tau=20,final=0,per=epoch", new LinearDecaySchedule(20, 0, ScheduleUnit.Epoch) },
        { "inverse:decay=0.001", new InverseTimeDecaySchedule(1e-3) },
        { "cosine:T=400,min=0", new CosineAnnealingSchedule(400) },
        { "cosine:T=200,min=0.05,per=epoch", new CosineAnnealingSchedule(200, 0.05, ScheduleUnit.Epoch) },
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void Parse_CanonicalSpec_GivesTheScheduleAndRoundTrips(string spec, LearningRateSchedule expected)
    {
        var schedule = ScheduleSpec.Parse(spec);

        Assert.Equal(expected, schedule);
        Assert.Equal(spec, schedule.ToSpec());
        Assert.Equal(spec, schedule.ToString());
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void Json_RoundTripsEveryKind(string spec, LearningRateSchedule expected)
    {
        string json = expected.ToJson();

        Assert.Equal(expected, LearningRateSchedule.FromJson(json));
        Assert.StartsWith("{\"kind\":\"" + spec.Split(':')[0] + "\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_LinearShape_IsReadable() =>
        Assert.Equal("{\"kind\":\"linear\",\"tau\":400,\"final\":0.01,\"per\":\"iteration\"}", new LinearDecaySchedule(400, 0.01).ToJson());

    [Fact]
    public void Json_OutOfRangeParameters_AreRejectedOnRead() =>
        Assert.ThrowsAny<ArgumentException>(() => LearningRateSchedule.FromJson("{\"kind\":\"cosine\",\"t\":0,\"minimum\":0,\"per\":\"iteration\"}"));

    [Theory]
    [InlineData(" Linear : TAU = 400 , Final = 1e-2 ", "linear:tau=400,final=0.01")]
    [InlineData("COSINE:t=50", "cosine:T=50,min=0")]
    [InlineData("step: 10 , 20 : 0.5", "step:10,20:0.5")]
    [InlineData("inverse:decay=1e-3,per=iter", "inverse:decay=0.001")]
    [InlineData("constant:", "constant")]
    public void Parse_IsLenientAboutCaseAndSpaces(string spec, string canonical) =>
        Assert.Equal(canonical, ScheduleSpec.Parse(spec).ToSpec());

    [Theory]
    [InlineData("", "", "the spec is empty")]
    [InlineData("warmup:10", "warmup", "unknown schedule 'warmup'; expected one of constant, step, linear, inverse, cosine")]
    [InlineData("constant:0.1", "0.1", "constant takes no arguments")]
    [InlineData("step:150", "150", "'150' is not milestone epochs, then ':', then the factor; expected step:E1,E2,...:GAMMA.")]
    [InlineData("step:150,abc:0.1", "abc", "milestone 'abc' is not a whole number of epochs")]
    [InlineData("step:150,100:0.1", "150,100", "milestones must be positive epochs in increasing order")]
    [InlineData("step:150:-1", "-1", "gamma must be finite and > 0, got -1")]
    [InlineData("step:150:x", "x", "gamma 'x'")]
    [InlineData("linear:tau=0,final=0.01", "tau=0", "'tau=0': linear: tau must be a positive number of iterations, got 0")]
    [InlineData("linear:tau=40x,final=0.01", "tau=40x", "tau '40x' in 'tau=40x' is not a whole number")]
    [InlineData("linear:final=0.01", "final=0.01", "missing 'tau='")]
    [InlineData("linear:tau=10,final=0.01,foo=1", "foo=1", "unknown key 'foo' in 'foo=1'")]
    [InlineData("linear:tau=10,tau=20,final=1", "tau=20", "'tau' is given twice")]
    [InlineData("linear:tau=10,final=NaN", "final=NaN", "final 'NaN' in 'final=NaN' is not a finite number")]
    [InlineData("linear:tau=10,final=-0.5", "final=-0.5", "final (ε_τ / ε₀) must be finite and 0 or more, got -0.5")]
    [InlineData("inverse:decay=-1", "decay=-1", "decay must be finite and 0 or more")]
    [InlineData("inverse:", "", "missing 'decay='")]
    [InlineData("cosine:T=400,min=2", "min=2", "min (η_min / η₀) must be in [0, 1], got 2")]
    [InlineData("cosine:T=400,per=week", "per=week", "per 'week' in 'per=week' must be iteration or epoch")]
    [InlineData("cosine:T=400,min", "min", "'min' is not key=value")]
    public void Parse_BadSpec_NamesTheToken(string spec, string token, string message)
    {
        var e = Assert.Throws<ScheduleSpecException>(() => ScheduleSpec.Parse(spec));

        Assert.Equal(token, e.Token);
        Assert.Equal(spec, e.Spec);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"Learning-rate schedule '{spec}': ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_ReturnsTheMessageInsteadOfThrowing()
    {
        Assert.False(ScheduleSpec.TryParse("cosine:T=-1", out var schedule, out string? error));
        Assert.Null(schedule);
        Assert.Contains("T '-1'", error, StringComparison.Ordinal);
        Assert.True(ScheduleSpec.TryParse("constant", out schedule, out error));
        Assert.IsType<ConstantSchedule>(schedule);
    }

    [Fact]
    public void StepDecay_EqualityComparesMilestoneValues()
    {
        var set = new HashSet<LearningRateSchedule> { new StepDecaySchedule([1, 2], 0.5) };

        Assert.Contains(new StepDecaySchedule(new List<int> { 1, 2 }, 0.5), set);
        Assert.NotEqual(new StepDecaySchedule([1, 3], 0.5), new StepDecaySchedule([1, 2], 0.5));
    }
}
