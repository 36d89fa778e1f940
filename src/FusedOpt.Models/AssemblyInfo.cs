// FusedOpt.Models: layers with forward and backward passes, a packed GEMM, losses, initialisers, CIFAR-10 data,
// and the training loop. Every model parameter and gradient lives in a FusedOpt.Memory.ParameterArena, so one
// optimizer step is one fused sweep over all of them.
[assembly: System.CLSCompliant(false)]
