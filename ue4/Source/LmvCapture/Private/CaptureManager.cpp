// ACaptureManager (see CaptureManager.h). UE 4.27 APIs used, by step:
//   fixed time step     FApp::SetUseFixedTimeStep / FApp::SetFixedDeltaTime (Misc/App.h), the switches behind
//                       the -UseFixedTimeStep / -benchmark -fps=N command line flags (CaptureManagerSetup.cpp);
//   sequence            ULevelSequencePlayer::CreateLevelSequencePlayer, UMovieSceneSequencePlayer::SetPlaybackPosition
//                       (FMovieSceneSequencePlaybackParams, EUpdatePositionMethod::Play), FFrameRate::TransformTime;
//   capture             USceneCaptureComponent2D (SCS_FinalColorHDR, bAlwaysPersistRenderingState, CaptureScene,
//                       PRM_UseShowOnlyList), FPostProcessSettings::AddBlendable, FEngineShowFlags
//                       (set up in CaptureManagerSetup.cpp);
//   render target       UTextureRenderTarget2D::InitCustomFormat(PF_A32B32G32R32F, linear);
//   read-back           ENQUEUE_RENDER_COMMAND + FRHICommandListImmediate::ReadSurfaceData(TArray<FLinearColor>,
//                       FReadSurfaceDataFlags(RCM_MinMax)), FRenderCommandFence;
//   EXR                 IImageWrapperModule (EImageFormat::EXR), see LmvFrameWriter.cpp.
#include "CaptureManager.h"

#include "Camera/CameraComponent.h"
#include "Camera/PlayerCameraManager.h"
#include "Components/SceneCaptureComponent2D.h"
#include "Engine/Engine.h"
#include "Engine/TextureRenderTarget2D.h"
#include "Engine/World.h"
#include "Kismet/GameplayStatics.h"
#include "Kismet/KismetSystemLibrary.h"
#include "LevelSequence.h"
#include "LevelSequenceActor.h"
#include "LevelSequencePlayer.h"
#include "LmvCapture.h"
#include "LmvCaptureSchema.h"
#include "Materials/MaterialInterface.h"
#include "Misc/EngineVersion.h"
#include "Misc/Paths.h"
#include "RHICommandList.h"
#include "RenderingThread.h"
#include "TextureResource.h"

extern ENGINE_API float GNearClippingPlane;

namespace
{
	/** Frames whose files may be queued for writing at once (each holds every buffer as float RGBA). */
	const int32 MaxFramesInFlight = 3;
}

void FLmvSequenceTickFunction::ExecuteTick(float DeltaTime, ELevelTick TickType, ENamedThreads::Type CurrentThread,
	const FGraphEventRef& MyCompletionGraphEvent)
{
	if (Manager && Manager->bCapturing && TickType != LEVELTICK_ViewportsOnly)
	{
		Manager->PositionSequence(Manager->FrameIndex);
	}
}

FString FLmvSequenceTickFunction::DiagnosticMessage()
{
	return TEXT("ACaptureManager sequence step");
}

ACaptureManager::ACaptureManager()
{
	PrimaryActorTick.bCanEverTick = true;
	PrimaryActorTick.bStartWithTickEnabled = true;
	// After physics, animation and every camera component have moved for this frame.
	PrimaryActorTick.TickGroup = TG_PostUpdateWork;
	RootComponent = CreateDefaultSubobject<USceneComponent>(TEXT("Root"));

	// Default items: every buffer of lmv's schema, with the materials Scripts/create_materials.py creates.
	for (const LmvCaptureSchema::FBufferInfo& Buffer : LmvCaptureSchema::Buffers)
	{
		FCaptureItem Item;
		Item.BufferName = Buffer.Folder;
		if (Buffer.MaterialPath)
		{
			Item.PPMaterial = TSoftObjectPtr<UMaterialInterface>(FSoftObjectPath(Buffer.MaterialPath));
		}
		Item.bSkyOnly = Buffer.bSkyOnly;
		Item.bAntiAliased = Buffer.bAntiAliased;
		CaptureItems.Add(Item);
	}
}

int32 ACaptureManager::GetExportedFrameCount() const
{
	return FMath::Max(0, FrameIndex - WarmUpFrames);
}

// ---- Start --------------------------------------------------------------------------------------------

void ACaptureManager::BeginPlay()
{
	Super::BeginPlay();
	FrameIndex = 0;
	CameraRecords.Reset();
	TArray<FString> Errors;
	TArray<FString> Warnings;
	Validate(Errors, Warnings);
	if (Errors.Num() == 0)
	{
		SetupSequence(Errors);
	}
	for (const FString& Warning : Warnings)
	{
		Report(ELogVerbosity::Warning, Warning);
	}
	if (Errors.Num() > 0)
	{
		for (const FString& Error : Errors)
		{
			Report(ELogVerbosity::Error, Error);
		}
		Report(ELogVerbosity::Error, TEXT("capture refused to start; fix the errors above (ue4/README.md)"));
		SetActorTickEnabled(false);
		return;
	}
	ClearOutputFolders();
	ApplyEngineSettings();
	CreateCaptures();
	Writer = MakeUnique<FLmvFrameWriter>(ResolvedBasePath, bCompressExr, MaxFramesInFlight);

	SequenceTick.Manager = this;
	SequenceTick.TickGroup = TG_PrePhysics;
	SequenceTick.bHighPriority = true;
	SequenceTick.bCanEverTick = true;
	SequenceTick.bStartWithTickEnabled = true;
	SequenceTick.RegisterTickFunction(GetLevel());
	PositionSequence(0);
	bCapturing = true;
	Report(ELogVerbosity::Display, FString::Printf(
		TEXT("capturing %d buffers at %dx%d, %d fps (fixed time step), %d warm-up frames, into %s"),
		ActiveItems.Num(), Width, Height, FramesPerSecond, WarmUpFrames, *ResolvedBasePath));
}

// ---- Level sequence -----------------------------------------------------------------------------------

bool ACaptureManager::SetupSequence(TArray<FString>& Errors)
{
	CaptureRate = FFrameRate(FramesPerSecond, 1);
	SequenceTicks = INDEX_NONE;
	if (!LevelSequence)
	{
		return true;
	}
	FMovieSceneSequencePlaybackSettings Settings;
	Settings.bAutoPlay = false;
	ALevelSequenceActor* Actor = nullptr;
	SequencePlayer = ULevelSequencePlayer::CreateLevelSequencePlayer(this, LevelSequence, Settings, Actor);
	SequenceActor = Actor;
	if (!SequencePlayer)
	{
		Errors.Add(FString::Printf(TEXT("cannot create a player for %s"), *LevelSequence->GetPathName()));
		return false;
	}
	const FQualifiedFrameTime Start = SequencePlayer->GetStartTime();
	const FQualifiedFrameTime End = SequencePlayer->GetEndTime();
	SequenceStart = Start.Time;
	SequenceDisplayRate = Start.Rate;
	// Ticks t with Start + t / FramesPerSecond < End (the playback range excludes its end frame).
	SequenceTicks = FFrameRate::TransformTime(End.Time - Start.Time, SequenceDisplayRate, CaptureRate).CeilToFrame().Value;
	if (SequenceTicks <= WarmUpFrames)
	{
		Errors.Add(FString::Printf(TEXT("%s lasts %d frames at %d fps, not more than the %d warm-up frames"),
			*LevelSequence->GetPathName(), SequenceTicks, FramesPerSecond, WarmUpFrames));
		SequenceActor->Destroy();
		SequencePlayer = nullptr;
		SequenceActor = nullptr;
		return false;
	}
	// Initialise evaluation, then hold: the manager moves the player itself, one exact step per tick.
	SequencePlayer->Play();
	SequencePlayer->Pause();
	return true;
}

void ACaptureManager::PositionSequence(int32 Tick)
{
	if (!SequencePlayer || Tick >= SequenceTicks)
	{
		return;
	}
	// Exact rational arithmetic: Tick capture frames converted to the sequence's display rate.
	const FFrameTime Offset = FFrameRate::TransformTime(FFrameTime(Tick), CaptureRate, SequenceDisplayRate);
	// Play (not Jump) evaluates the range since the last position as playback would: events fire, and the
	// evaluation sets transforms now, in TG_PrePhysics, before physics, animation and the captures.
	SequencePlayer->SetPlaybackPosition(FMovieSceneSequencePlaybackParams(SequenceStart + Offset, EUpdatePositionMethod::Play));
}

// ---- Per frame ------------------------------------------------------------------------------------------

void ACaptureManager::Tick(float DeltaSeconds)
{
	Super::Tick(DeltaSeconds);
	if (!bCapturing)
	{
		return;
	}
	HandOverPendingFrame();
	if (IsDone())
	{
		FinishCapture(/*bComplete=*/true);
		return;
	}
	const double Expected = 1.0 / double(FramesPerSecond);
	if (FrameIndex > 0 && !bWarnedDeltaTime && !FMath::IsNearlyEqual(double(DeltaSeconds), Expected, 1e-5))
	{
		bWarnedDeltaTime = true;
		Report(ELogVerbosity::Warning, FString::Printf(TEXT("tick %d advanced game time by %.6f s, not %.6f s: something overrides the fixed time step (time dilation, t.MaxFPS, another plugin); frames are not evenly spaced"),
			FrameIndex, DeltaSeconds, Expected));
	}
	const FMinimalViewInfo View = ResolveView();
	for (USceneCaptureComponent2D* Capture : Captures)
	{
		Capture->SetWorldLocationAndRotation(View.Location, View.Rotation);
		Capture->FOVAngle = View.FOV;
		// Renders now; CaptureScene first flushes this frame's transform updates (UWorld::SendAllEndOfFrameUpdates).
		Capture->CaptureScene();
	}
	if (FrameIndex >= WarmUpFrames)
	{
		const int32 ExportIndex = FrameIndex - WarmUpFrames;
		EnqueueReadBack(ExportIndex);
		RecordCamera(View, ExportIndex);
	}
	++FrameIndex;
}

FMinimalViewInfo ACaptureManager::ResolveView()
{
	FMinimalViewInfo View;
	APlayerCameraManager* CameraManager = UGameplayStatics::GetPlayerCameraManager(this, 0);
	AActor* Source = CameraOverride ? CameraOverride : (CameraManager ? CameraManager->GetViewTarget() : nullptr);
	if (UCameraComponent* Camera = Source ? Source->FindComponentByClass<UCameraComponent>() : nullptr)
	{
		// The component as it is now, this frame (the camera manager's cached view is last frame's).
		Camera->GetCameraView(0.f, View);
		return View;
	}
	if (!bWarnedCamera)
	{
		bWarnedCamera = true;
		Report(ELogVerbosity::Warning, TEXT("the view target has no camera component; using the player camera manager's view, which lags one frame"));
	}
	if (CameraManager)
	{
		return CameraManager->GetCameraCachePOV();
	}
	View.Location = GetActorLocation();
	View.Rotation = GetActorRotation();
	return View;
}

void ACaptureManager::EnqueueReadBack(int32 ExportIndex)
{
	FLmvFramePtr Frame = MakeShared<FLmvFrame, ESPMode::ThreadSafe>();
	Frame->ExportIndex = ExportIndex;
	Frame->Size = FIntPoint(Width, Height);
	TArray<FTextureRenderTargetResource*> Resources;
	for (int32 Index = 0; Index < ActiveItems.Num(); ++Index)
	{
		FLmvBufferPixels& Buffer = Frame->Buffers.AddDefaulted_GetRef();
		Buffer.Folder = ActiveItems[Index].BufferName;
		Resources.Add(Targets[Index]->GameThread_GetRenderTargetResource());
	}
	// Queued after this tick's capture commands, so it reads exactly this tick's images. The frame is owned
	// by shared pointers (this lambda, PendingFrame, then the writer's tasks): nothing is deleted while used.
	ENQUEUE_RENDER_COMMAND(LmvCaptureReadBack)([Frame, Resources](FRHICommandListImmediate& RHICmdList)
	{
		const FIntRect Rect(FIntPoint::ZeroValue, Frame->Size);
		for (int32 Index = 0; Index < Resources.Num(); ++Index)
		{
			// RCM_MinMax: no range compression, the raw float values (negative velocity, depth in cm).
			RHICmdList.ReadSurfaceData(Resources[Index]->GetRenderTargetTexture(), Rect, Frame->Buffers[Index].Pixels,
				FReadSurfaceDataFlags(RCM_MinMax, CubeFace_MAX));
		}
	});
	ReadBackFence.BeginFence();
	PendingFrame = Frame;
}

void ACaptureManager::HandOverPendingFrame()
{
	if (!PendingFrame.IsValid())
	{
		return;
	}
	// Usually long done: the read-back was queued one engine frame ago.
	ReadBackFence.Wait();
	if (Writer)
	{
		Writer->Submit(PendingFrame);
	}
	PendingFrame.Reset();
}

void ACaptureManager::RecordCamera(const FMinimalViewInfo& View, int32 ExportIndex)
{
	FLmvCameraRecord Record;
	Record.Frame = ExportIndex;
	Record.Tick = FrameIndex;
	Record.SequenceSeconds = SequencePlayer ? double(FrameIndex) / double(FramesPerSecond) : -1.0;
	Record.Location = View.Location;
	Record.Rotation = View.Rotation;
	Record.FovXDegrees = View.FOV;
	CameraRecords.Add(Record);
}

bool ACaptureManager::IsDone() const
{
	if (MaxFrames > 0 && GetExportedFrameCount() >= MaxFrames)
	{
		return true;
	}
	return SequencePlayer != nullptr && FrameIndex >= SequenceTicks;
}

// ---- End ------------------------------------------------------------------------------------------------

void ACaptureManager::WriteCameraJson(bool bComplete) const
{
	FLmvCaptureInfo Info;
	Info.Map = UGameplayStatics::GetCurrentLevelName(this, true);
	Info.Sequence = LevelSequence ? LevelSequence->GetPathName() : FString();
	Info.EngineVersion = FEngineVersion::Current().ToString();
	Info.AntiAliasing = StaticEnum<ELmvAntiAliasing>()->GetNameStringByValue(int64(AntiAliasing));
	for (const FCaptureItem& Item : ActiveItems)
	{
		Info.Buffers.Add(Item.BufferName);
	}
	Info.Size = FIntPoint(Width, Height);
	Info.FramesPerSecond = FramesPerSecond;
	Info.WarmUpFrames = WarmUpFrames;
	Info.ExposureBias = ExposureBias;
	Info.NearClipCm = GNearClippingPlane;
	Info.SkyDepthCm = LmvCaptureSchema::SkyDepthCm;
	Info.bComplete = bComplete;
	const FString Path = FPaths::Combine(ResolvedBasePath, TEXT("camera.json"));
	if (!FLmvFrameWriter::WriteTextFile(Path, LmvCameraJson(Info, CameraRecords)))
	{
		Report(ELogVerbosity::Error, FString::Printf(TEXT("cannot write %s"), *Path));
	}
}

void ACaptureManager::FinishCapture(bool bComplete)
{
	if (!bCapturing)
	{
		return;
	}
	bCapturing = false;
	HandOverPendingFrame();
	const int32 Failed = Writer ? Writer->Flush() : 0;
	const int32 Written = Writer ? Writer->GetFilesWritten() : 0;
	Writer.Reset();
	WriteCameraJson(bComplete && Failed == 0);
	RestoreEngineSettings();
	if (SequencePlayer)
	{
		SequencePlayer->Stop();
	}
	const FString Summary = FString::Printf(
		TEXT("%s after %d frames: %d files written, %d failed, in %s. Check it with: lmv capture-check \"%s\""),
		bComplete ? TEXT("capture finished") : TEXT("capture interrupted"), GetExportedFrameCount(), Written, Failed,
		*ResolvedBasePath, *ResolvedBasePath);
	Report(Failed > 0 || !bComplete ? ELogVerbosity::Warning : ELogVerbosity::Display, Summary);
	if (bComplete && bQuitWhenDone)
	{
		UKismetSystemLibrary::QuitGame(this, nullptr, EQuitPreference::Quit, /*bIgnorePlatformRestrictions=*/false);
	}
}

void ACaptureManager::EndPlay(const EEndPlayReason::Type EndPlayReason)
{
	// Play stopped before the capture finished: keep what is complete, mark camera.json incomplete.
	FinishCapture(/*bComplete=*/false);
	if (SequenceTick.IsTickFunctionRegistered())
	{
		SequenceTick.UnRegisterTickFunction();
	}
	Super::EndPlay(EndPlayReason);
}

void ACaptureManager::Report(ELogVerbosity::Type Verbosity, const FString& Message) const
{
	FColor Colour = FColor::Green;
	switch (Verbosity)
	{
	case ELogVerbosity::Error:
		UE_LOG(LogLmvCapture, Error, TEXT("%s"), *Message);
		Colour = FColor::Red;
		break;
	case ELogVerbosity::Warning:
		UE_LOG(LogLmvCapture, Warning, TEXT("%s"), *Message);
		Colour = FColor::Yellow;
		break;
	default:
		UE_LOG(LogLmvCapture, Display, TEXT("%s"), *Message);
		break;
	}
	if (GEngine)
	{
		GEngine->AddOnScreenDebugMessage(-1, 30.f, Colour, TEXT("LMV capture: ") + Message);
	}
}
