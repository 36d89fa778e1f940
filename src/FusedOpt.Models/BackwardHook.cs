namespace FusedOpt.Models;

/// <summary>
/// Told by <see cref="Sequential{T}.Backward"/> each time a layer's parameter gradients are complete: what the step
/// inside backward hangs on (<see cref="Training.TrainOptions.StepInBackward"/>).
/// </summary>
public interface IBackwardHook
{
    /// <summary>
    /// Called after a layer's backward, once per layer with parameters, last layer first. The tensors
    /// [<paramref name="firstTensor"/>, <paramref name="firstTensor"/> + <paramref name="tensorCount"/>) of the arena
    /// (registration order) hold their whole gradient for the batch, and nothing later in the backward pass reads their
    /// parameters or gradients, so they may be stepped now.
    /// </summary>
    /// <param name="firstTensor">Index of the layer's first tensor in <see cref="FusedOpt.Memory.ParameterArena.Tensors"/>.</param>
    /// <param name="tensorCount">Number of the layer's tensors (≥ 1); they are consecutive.</param>
    void GradientsComplete(int firstTensor, int tensorCount);
}
