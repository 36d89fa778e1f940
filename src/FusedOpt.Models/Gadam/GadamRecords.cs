using System.Collections.Generic;

namespace FusedOpt.Models.Gadam;

/// <summary>One parent pair of a generation and the child it made (eq. 46–49).</summary>
/// <param name="Child">The child's index p.</param>
/// <param name="First">Population index of parent i.</param>
/// <param name="Second">Population index of parent j.</param>
/// <param name="CrossoverProbability">p_ij of eq. 47: the chance an element comes from parent i.</param>
/// <param name="MutationRate">p_q of eq. 49.</param>
/// <param name="FromFirst">Elements the child took from parent i.</param>
/// <param name="Mutated">Elements mutated.</param>
public sealed record PairRecord(int Child, int First, int Second, double CrossoverProbability, double MutationRate, long FromFirst, long Mutated);

/// <summary>
/// Everything one generation decided. Candidates are numbered parents first (0 … g − 1, by population index) then
/// children (g … 2g − 1, by child index); <see cref="Survivors"/> lists the candidates that form the next generation,
/// best first (its position is the member's population index there).
/// </summary>
/// <param name="Generation">k, from 0.</param>
/// <param name="FitnessLosses">Lᵢ of eq. 44 (mean cross-entropy on the fitness batch) of each trained parent.</param>
/// <param name="Normalized">L̂ᵢ (min–max).</param>
/// <param name="Probabilities">P(Mᵢ) of eq. 45.</param>
/// <param name="Pairs">The g parent pairs and their children.</param>
/// <param name="CandidateLosses">Loss of every candidate on the shared selection batch.</param>
/// <param name="Survivors">The kept candidates, best first.</param>
/// <param name="SurvivorLossSum">Σ of the survivors' selection losses (the sum eq. 50 compares).</param>
/// <param name="BestLoss">The best survivor's selection loss.</param>
/// <param name="MeanLoss">The survivors' mean selection loss.</param>
/// <param name="TestAccuracy">Test accuracy of the best survivor, when evaluated.</param>
/// <param name="TestLoss">Test loss of the best survivor, when evaluated.</param>
/// <param name="Converged">Eq. 50 held after this generation.</param>
/// <param name="TrainImages">Images trained on in this generation, over all members.</param>
/// <param name="TrainSeconds">Wall time of the two training phases.</param>
/// <param name="Seconds">Wall time of the whole generation.</param>
/// <param name="BytesSent">Bytes sent between processes in this generation, summed over ranks.</param>
public sealed record GenerationRecord(
    int Generation,
    IReadOnlyList<double> FitnessLosses,
    IReadOnlyList<double> Normalized,
    IReadOnlyList<double> Probabilities,
    IReadOnlyList<PairRecord> Pairs,
    IReadOnlyList<double> CandidateLosses,
    IReadOnlyList<int> Survivors,
    double SurvivorLossSum,
    double BestLoss,
    double MeanLoss,
    double? TestAccuracy,
    double? TestLoss,
    bool Converged,
    long TrainImages,
    double TrainSeconds,
    double Seconds,
    long BytesSent)
{
    /// <summary>Training throughput of the generation, images per second (all members together).</summary>
    public double ImagesPerSecond => TrainSeconds > 0 ? TrainImages / TrainSeconds : 0;
}
