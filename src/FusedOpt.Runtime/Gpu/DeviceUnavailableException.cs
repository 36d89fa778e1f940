using System;

namespace FusedOpt.Gpu;

/// <summary>
/// The device asked for is not present (no CUDA driver, no OpenCL ICD, an index past the last device) or lacks a
/// capability the step needs. The message names what was asked for and what ILGPU saw.
/// </summary>
public sealed class DeviceUnavailableException : PlatformNotSupportedException
{
    /// <summary>Creates the exception.</summary>
    public DeviceUnavailableException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
