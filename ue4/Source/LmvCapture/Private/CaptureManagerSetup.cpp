// ACaptureManager, part 2: checks before a capture starts, engine settings, and the capture components.
// UE 4.27 APIs: IConsoleManager (read-only velocity variables), FApp::SetUseFixedTimeStep/SetFixedDeltaTime,
// USceneCaptureComponent2D, UTextureRenderTarget2D::InitCustomFormat, FPostProcessSettings, FEngineShowFlags.
#include "CaptureManager.h"

#include "Components/SceneCaptureComponent2D.h"
#include "DynamicRHI.h"
#include "Engine/TextureRenderTarget2D.h"
#include "GameFramework/WorldSettings.h"
#include "HAL/FileManager.h"
#include "HAL/IConsoleManager.h"
#include "Kismet/GameplayStatics.h"
#include "LmvCaptureSchema.h"
#include "Materials/Material.h"
#include "Materials/MaterialInterface.h"
#include "Misc/App.h"
#include "Misc/Paths.h"

namespace
{
	/** Read-only at run time (they select shader permutations): set in Config/DefaultEngine.ini, checked here. */
	const TCHAR* const VelocityVariables[] = { TEXT("r.BasePassOutputsVelocity"), TEXT("r.BasePassForceOutputsVelocity") };

	const LmvCaptureSchema::FBufferInfo* FindSchemaBuffer(const FString& Folder)
	{
		for (const LmvCaptureSchema::FBufferInfo& Buffer : LmvCaptureSchema::Buffers)
		{
			if (Folder == Buffer.Folder)
			{
				return &Buffer;
			}
		}
		return nullptr;
	}
}

// ---- Checks before the capture starts -------------------------------------------------------------------

void ACaptureManager::Validate(TArray<FString>& Errors, TArray<FString>& Warnings)
{
	const FString Folder = BasePath.IsEmpty()
		? FPaths::Combine(FPaths::ProjectSavedDir(), TEXT("LmvCapture"), UGameplayStatics::GetCurrentLevelName(this, true))
		: BasePath;
	ResolvedBasePath = FPaths::ConvertRelativePathToFull(Folder);
	ValidateItems(Errors, Warnings);
	CheckRenderSettings(Errors, Warnings);
	if (Errors.Num() == 0)
	{
		CheckOutputFolders(Errors);
	}
}

void ACaptureManager::ValidateItems(TArray<FString>& Errors, TArray<FString>& Warnings)
{
	ActiveItems.Reset();
	ActiveMaterials.Reset();
	TSet<FString> Seen;
	bool bAnySkyOnly = false;
	for (const FCaptureItem& Item : CaptureItems)
	{
		if (Item.BufferName.IsEmpty() || Seen.Contains(Item.BufferName))
		{
			Errors.Add(Item.BufferName.IsEmpty() ? FString(TEXT("a capture item has no BufferName"))
				: FString::Printf(TEXT("capture item %s is listed twice"), *Item.BufferName));
			continue;
		}
		Seen.Add(Item.BufferName);
		const LmvCaptureSchema::FBufferInfo* Schema = FindSchemaBuffer(Item.BufferName);
		if (!Schema)
		{
			Warnings.Add(FString::Printf(TEXT("%s is no buffer of lmv's schema; lmv capture-check will report that folder as unknown"), *Item.BufferName));
		}
		else if (Schema->bSkyOnly != Item.bSkyOnly)
		{
			Warnings.Add(FString::Printf(TEXT("%s: bSkyOnly is %s, lmv's schema captures it with %s"), *Item.BufferName,
				Item.bSkyOnly ? TEXT("on") : TEXT("off"), Schema->bSkyOnly ? TEXT("on") : TEXT("off")));
		}
		UMaterialInterface* Material = nullptr;
		if (!Item.PPMaterial.IsNull())
		{
			Material = Item.PPMaterial.LoadSynchronous();
			if (!Material)
			{
				Errors.Add(FString::Printf(TEXT("%s: material %s not found; run Scripts/create_materials.py in the editor"),
					*Item.BufferName, *Item.PPMaterial.ToString()));
				continue;
			}
			if (Material->GetMaterial()->MaterialDomain != MD_PostProcess)
			{
				Errors.Add(FString::Printf(TEXT("%s: %s is not a post-process material"), *Item.BufferName, *Material->GetPathName()));
				continue;
			}
		}
		else if (Schema && Schema->MaterialPath)
		{
			Warnings.Add(FString::Printf(TEXT("%s has no material; lmv's schema applies %s"), *Item.BufferName, Schema->MaterialPath));
		}
		bAnySkyOnly |= Item.bSkyOnly;
		ActiveItems.Add(Item);
		ActiveMaterials.Add(Material);
	}
	for (const LmvCaptureSchema::FBufferInfo& Buffer : LmvCaptureSchema::Buffers)
	{
		if (Buffer.bRequired && !Seen.Contains(Buffer.Folder))
		{
			Warnings.Add(FString::Printf(TEXT("no capture item for %s; lmv capture-check will report that buffer folder missing"), Buffer.Folder));
		}
	}
	if (ActiveItems.Num() == 0 && Errors.Num() == 0)
	{
		Errors.Add(TEXT("CaptureItems is empty"));
	}
	if (bAnySkyOnly && SkyActors.Num() == 0)
	{
		Warnings.Add(TEXT("SkyActors is empty: the sky-only captures show only what is no primitive (SkyAtmosphere, fog). Add your sky sphere or dome actor if the sky is a mesh."));
	}
}

void ACaptureManager::CheckRenderSettings(TArray<FString>& Errors, TArray<FString>& Warnings) const
{
	IConsoleManager& Console = IConsoleManager::Get();
	for (const TCHAR* Name : VelocityVariables)
	{
		const IConsoleVariable* Variable = Console.FindConsoleVariable(Name);
		if (!Variable)
		{
			Warnings.Add(FString::Printf(TEXT("%s does not exist in this engine version; check with lmv capture-check that static geometry has velocity"), Name));
		}
		else if (Variable->GetInt() == 0)
		{
			Errors.Add(FString::Printf(TEXT("%s is 0, so static geometry writes no velocity and the camera motion is missing from the velocity buffer. Add %s=1 under [SystemSettings] in Config/DefaultEngine.ini and restart the editor (it is read-only at run time)."), Name, Name));
		}
	}
	// Metal's FLinearColor read-back goes through 8-bit FColor (RHIReadSurfaceData): velocity and depth would be lost.
	if (GDynamicRHI && FCString::Strcmp(GDynamicRHI->GetName(), TEXT("Metal")) == 0)
	{
		Errors.Add(TEXT("the Metal RHI reads float render targets back through 8 bits; capture on D3D11, D3D12 or Vulkan"));
	}
	const IConsoleVariable* CustomDepth = Console.FindConsoleVariable(TEXT("r.CustomDepth"));
	if (CustomDepth && CustomDepth->GetInt() < 3)
	{
		Warnings.Add(TEXT("r.CustomDepth is below 3 (Enabled with Stencil): the custom stencil channel reads 0"));
	}
	const IConsoleVariable* DefaultAA = Console.FindConsoleVariable(TEXT("r.DefaultFeature.AntiAliasing"));
	if (AntiAliasing == ELmvAntiAliasing::TemporalAA && DefaultAA && DefaultAA->GetInt() != 2)
	{
		Warnings.Add(FString::Printf(TEXT("AntiAliasing is TemporalAA but the project's anti-aliasing method (r.DefaultFeature.AntiAliasing) is %d, not 2: the colour captures use that method"), DefaultAA->GetInt()));
	}
	const AWorldSettings* Settings = GetWorldSettings();
	if (Settings && !FMath::IsNearlyEqual(Settings->TimeDilation, 1.f))
	{
		Warnings.Add(FString::Printf(TEXT("world time dilation is %g: game time advances %g/%d s per frame"), Settings->TimeDilation, Settings->TimeDilation, FramesPerSecond));
	}
}

void ACaptureManager::CheckOutputFolders(TArray<FString>& Errors) const
{
	if (bOverwrite)
	{
		return;
	}
	for (const FCaptureItem& Item : ActiveItems)
	{
		const FString Folder = FPaths::Combine(ResolvedBasePath, Item.BufferName);
		TArray<FString> Existing;
		IFileManager::Get().FindFiles(Existing, *FPaths::Combine(Folder, FString(LmvCaptureSchema::FramePrefix) + TEXT("*")), true, false);
		if (Existing.Num() > 0)
		{
			Errors.Add(FString::Printf(TEXT("%s holds %d frame files of an earlier capture: tick bOverwrite or choose another BasePath"), *Folder, Existing.Num()));
		}
	}
}

void ACaptureManager::ClearOutputFolders() const
{
	IFileManager& Files = IFileManager::Get();
	for (const FCaptureItem& Item : ActiveItems)
	{
		const FString Folder = FPaths::Combine(ResolvedBasePath, Item.BufferName);
		TArray<FString> Existing;
		Files.FindFiles(Existing, *FPaths::Combine(Folder, FString(LmvCaptureSchema::FramePrefix) + TEXT("*")), true, false);
		for (const FString& Name : Existing)
		{
			Files.Delete(*FPaths::Combine(Folder, Name));
		}
		Files.MakeDirectory(*Folder, /*Tree=*/true);
	}
}

void ACaptureManager::ApplyEngineSettings()
{
	// Game time advances by exactly 1/FramesPerSecond per engine frame however long the frame takes to render
	// and write (UEngine::UpdateTimeAndHandleMaxTickRate uses FApp::GetFixedDeltaTime when UseFixedTimeStep).
	bSavedUseFixedTimeStep = FApp::UseFixedTimeStep();
	SavedFixedDeltaTime = FApp::GetFixedDeltaTime();
	FApp::SetFixedDeltaTime(1.0 / double(FramesPerSecond));
	FApp::SetUseFixedTimeStep(true);
	// Separate translucency is what STAlpha and SceneColorNoST decompose (study 1.3).
	SetConsoleVariable(TEXT("r.SeparateTranslucency"), TEXT("1"));
	if (bForceLOD0)
	{
		SetConsoleVariable(TEXT("r.ForceLOD"), TEXT("0"));
	}
}

void ACaptureManager::SetConsoleVariable(const TCHAR* Name, const TCHAR* Value)
{
	if (IConsoleVariable* Variable = IConsoleManager::Get().FindConsoleVariable(Name))
	{
		if (!SavedConsoleVariables.Contains(Name))
		{
			SavedConsoleVariables.Add(Name, Variable->GetString());
		}
		Variable->Set(Value, ECVF_SetByCode);
	}
}

void ACaptureManager::RestoreEngineSettings()
{
	FApp::SetUseFixedTimeStep(bSavedUseFixedTimeStep);
	FApp::SetFixedDeltaTime(SavedFixedDeltaTime);
	for (const TPair<FString, FString>& Saved : SavedConsoleVariables)
	{
		if (IConsoleVariable* Variable = IConsoleManager::Get().FindConsoleVariable(*Saved.Key))
		{
			Variable->Set(*Saved.Value, ECVF_SetByCode);
		}
	}
	SavedConsoleVariables.Reset();
}

// ---- Capture components ---------------------------------------------------------------------------------

void ACaptureManager::CreateCaptures()
{
	for (int32 Index = 0; Index < ActiveItems.Num(); ++Index)
	{
		const FCaptureItem& Item = ActiveItems[Index];
		UTextureRenderTarget2D* Target = NewObject<UTextureRenderTarget2D>(this);
		Target->ClearColor = FLinearColor::Black;
		Target->bAutoGenerateMips = false;
		// RTF_RGBA32f, linear: raw float values of every buffer (negative velocity, depth in cm) survive.
		Target->InitCustomFormat(Width, Height, PF_A32B32G32R32F, /*bInForceLinearGamma=*/true);
		Target->UpdateResourceImmediate(true);

		USceneCaptureComponent2D* Capture = NewObject<USceneCaptureComponent2D>(this);
		Capture->SetupAttachment(RootComponent);
		Capture->CaptureSource = ESceneCaptureSource::SCS_FinalColorHDR;
		Capture->TextureTarget = Target;
		// Rendered explicitly from Tick, once per engine frame, never on their own.
		Capture->bCaptureEveryFrame = false;
		Capture->bCaptureOnMovement = false;
		// Keeps the view state between captures: previous view matrices (camera velocity) and TAA history.
		Capture->bAlwaysPersistRenderingState = true;
		// The component's own projection: reversed-Z, infinite far plane, horizontal FOV = FOVAngle, like the
		// original's custom FReversedZPerspectiveMatrix(halfFOV, halfFOV, 1, W/H, near, near).
		Capture->bUseCustomProjectionMatrix = false;
		Capture->PostProcessBlendWeight = 1.f;
		ConfigurePostProcess(Capture->PostProcessSettings, ActiveMaterials[Index]);
		ConfigureShowFlags(Capture->ShowFlags, Item.bAntiAliased);
		if (Item.bSkyOnly)
		{
			Capture->PrimitiveRenderMode = ESceneCapturePrimitiveRenderMode::PRM_UseShowOnlyList;
			for (AActor* Sky : SkyActors)
			{
				if (Sky)
				{
					Capture->ShowOnlyActors.Add(Sky);
				}
			}
		}
		Capture->SetComponentTickEnabled(false);
		Capture->RegisterComponent();
		Targets.Add(Target);
		Captures.Add(Capture);
	}
}

void ACaptureManager::ConfigurePostProcess(FPostProcessSettings& Settings, UMaterialInterface* Material) const
{
	// Fixed exposure 2^ExposureBias: manual method, no physical-camera factor (4.25+), so a value of 1 in the
	// colour buffers is luminance 1 at bias 0 and exposure cannot drift over a sequence (study 9.2 item 9).
	Settings.bOverride_AutoExposureMethod = true;
	Settings.AutoExposureMethod = EAutoExposureMethod::AEM_Manual;
	Settings.bOverride_AutoExposureBias = true;
	Settings.AutoExposureBias = ExposureBias;
	Settings.bOverride_AutoExposureApplyPhysicalCameraExposure = true;
	Settings.AutoExposureApplyPhysicalCameraExposure = false;
	// Motion blur smears colour along the velocity the other buffers describe.
	Settings.bOverride_MotionBlurAmount = true;
	Settings.MotionBlurAmount = 0.f;
	Settings.bOverride_SceneFringeIntensity = true;
	Settings.SceneFringeIntensity = 0.f;
	Settings.bOverride_VignetteIntensity = true;
	Settings.VignetteIntensity = 0.f;
	if (!bBloom)
	{
		Settings.bOverride_BloomIntensity = true;
		Settings.BloomIntensity = 0.f;
	}
	if (Material)
	{
		Settings.AddBlendable(Material, 1.f);
	}
}

void ACaptureManager::ConfigureShowFlags(FEngineShowFlags& Flags, bool bColourBuffer) const
{
	// Data captures read the G-buffer through post-process materials: any AA would jitter (TAA) or blur (FXAA)
	// it. Colour captures follow AntiAliasing; FXAA is what UE 4.27 uses when the TemporalAA flag is off.
	const bool bAA = bColourBuffer && AntiAliasing != ELmvAntiAliasing::None;
	Flags.SetAntiAliasing(bAA);
	Flags.SetTemporalAA(bAA && AntiAliasing == ELmvAntiAliasing::TemporalAA);
	Flags.SetMotionBlur(false);
	Flags.SetEyeAdaptation(false);
	Flags.SetSeparateTranslucency(true);
	Flags.SetBloom(bBloom);
	Flags.SetDepthOfField(bDepthOfField);
	Flags.SetLensFlares(false);
	Flags.SetVignette(false);
	Flags.SetGrain(false);
	Flags.SetSceneColorFringe(false);
	Flags.SetScreenSpaceReflections(true);
	Flags.SetAtmosphere(bAtmosphere);
	Flags.SetFog(bFog);
	Flags.SetVolumetricFog(bVolumetricFog);
}
