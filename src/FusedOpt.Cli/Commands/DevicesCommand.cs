using System.CommandLine;
using System.Globalization;
using System.Linq;
using FusedOpt.Gpu;
using FusedOpt.Vulkan;
using Spectre.Console;

namespace FusedOpt.Cli.Commands;

/// <summary>
/// <c>fusedopt devices</c>: where a step can run — the host CPU path, ILGPU's CPU accelerator, every CUDA and OpenCL
/// device ILGPU sees, and every Vulkan device the Vulkan loader sees — with the name <c>--device</c> takes, memory and
/// compute units.
/// </summary>
internal static class DevicesCommand
{
    public static Command Create(CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("devices", "List the devices a step can run on (--device of replay and bench step).") { json };
        command.SetAction(parse => context.Guard(() =>
        {
            var ilgpu = GpuDevices.Discover();
            var vulkan = VulkanDevices.Discover();
            var report = new DeviceReport(
                [.. ilgpu.Devices, .. vulkan.Devices.Select(static d => d.ToDeviceInfo())],
                [.. ilgpu.Notes, .. vulkan.Notes.Select(static n => "Vulkan: " + n)]);
            if (parse.GetValue(json))
            {
                context.WriteRaw(Json.Serialize(new
                {
                    devices = report.Devices.Select(static d => new
                    {
                        device = d.Device.ToString(),
                        kind = DeviceSpec.Name(d.Device.Kind),
                        d.Name,
                        d.MemoryBytes,
                        d.Multiprocessors,
                        d.WarpSize,
                        d.MaxThreadsPerGroup,
                        d.Float64,
                        d.Details,
                    }),
                    report.Notes,
                }));
                return 0;
            }

            var table = new Table().Border(TableBorder.Rounded).Title("Devices (--device)");
            table.AddColumn("device");
            table.AddColumn("name");
            table.AddColumn(new TableColumn("memory").RightAligned());
            table.AddColumn(new TableColumn("units").RightAligned());
            table.AddColumn("fp64");
            table.AddColumn("details");
            foreach (var d in report.Devices)
            {
                table.AddRow(
                    new Text(d.Device.ToString()),
                    new Text(d.Name),
                    new Text((d.MemoryBytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB"),
                    new Text(d.Multiprocessors > 0 ? d.Multiprocessors.ToString(CultureInfo.InvariantCulture) : "—"),
                    new Text(d.Float64 ? "yes" : "no"),
                    new Text(d.Details));
            }

            context.Console.Write(table);
            foreach (var note in report.Notes)
            {
                context.Console.MarkupLineInterpolated($"[yellow]note:[/] {note}");
            }

            if (!report.Devices.Any(static d => d.Device.Kind is DeviceKind.Cuda or DeviceKind.OpenCL))
            {
                context.Console.MarkupLine("[grey]No CUDA or OpenCL device found: CUDA needs an NVIDIA GPU and its driver (libcuda.so.1), OpenCL an ICD for the device.[/]");
            }

            if (vulkan.Devices.Count > 0)
            {
                context.Console.MarkupLine("[grey]Vulkan devices run HLSL step shaders (SPIR-V) through FusedOpt.Vulkan; replay and bench step do not take --device vulkan yet.[/]");
            }

            return 0;
        }));
        return command;
    }
}
