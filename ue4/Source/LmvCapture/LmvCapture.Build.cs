// Module rules of the LMV capture plugin (UE 4.27; builds unchanged on UE 5.x).
//
// To compile the sources inside your own game module instead of as a plugin, copy Public/ and Private/
// into it, add the dependencies below to your <Game>.Build.cs, and replace LMVCAPTURE_API with your
// module's <GAME>_API macro (UnrealBuildTool derives it from the module name).
using UnrealBuildTool;

public class LmvCapture : ModuleRules
{
	public LmvCapture(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;

		// Types used in the public headers: AActor, FRenderCommandFence, ULevelSequence(Player), FFrameRate.
		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core", "CoreUObject", "Engine", "RenderCore", "LevelSequence", "MovieScene",
		});

		// FRHICommandListImmediate::ReadSurfaceData, and the EXR writer (EImageFormat::EXR).
		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"RHI", "ImageWrapper",
		});
	}
}
