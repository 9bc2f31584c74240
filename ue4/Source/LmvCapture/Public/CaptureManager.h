// ACaptureManager: captures the buffers of lmv's UE4 export layout (lmv SPEC section 2) every frame of a
// fixed-time-step run and writes <BasePath>/<Buffer>/frame_<k>.EXR as float32 RGBA.
//
// Written for UE 4.27 (APIs named in the comments of CaptureManager.cpp); notes for UE 5 in ue4/README.md.
#pragma once

#include "CoreMinimal.h"
#include "Camera/CameraTypes.h"
#include "Engine/EngineBaseTypes.h"
#include "GameFramework/Actor.h"
#include "LmvCameraLog.h"
#include "LmvFrameWriter.h"
#include "Misc/FrameRate.h"
#include "Misc/FrameTime.h"
#include "RenderCommandFence.h"
#include "CaptureManager.generated.h"

class ULevelSequence;
class ULevelSequencePlayer;
class ALevelSequenceActor;
class UMaterialInterface;
class USceneCaptureComponent2D;
class UTextureRenderTarget2D;
struct FPostProcessSettings;
struct FEngineShowFlags;

/** Anti-aliasing of the colour captures (SceneColor, SceneColorNoST, SkyColor); data captures never use any. */
UENUM(BlueprintType)
enum class ELmvAntiAliasing : uint8
{
	/** Aliased but exact: every buffer sees the same unjittered pixel centres. */
	None,
	/** Spatial post-process AA: no history, no jitter. */
	FXAA,
	/** Temporal AA (the project's r.TemporalAA.Algorithm): a jittered, history-resolved image, like games ship. */
	TemporalAA,
};

/**
 * Places the level sequence at the start of every frame (TG_PrePhysics, high priority), before anything ticks.
 *
 * Why not at the end of the manager's own tick: the renderer turns "current" transforms into "previous" ones
 * once per frame (FScene::StartFrame, at the start of the world tick). Objects the sequence moves must move
 * after that point and before the captures, or their velocity in the capture would be zero.
 */
USTRUCT()
struct FLmvSequenceTickFunction : public FTickFunction
{
	GENERATED_BODY()

	/** Set when registered in ACaptureManager::BeginPlay. */
	class ACaptureManager* Manager = nullptr;

	virtual void ExecuteTick(float DeltaTime, ELevelTick TickType, ENamedThreads::Type CurrentThread,
		const FGraphEventRef& MyCompletionGraphEvent) override;
	virtual FString DiagnosticMessage() override;
};

template<>
struct TStructOpsTypeTraits<FLmvSequenceTickFunction> : public TStructOpsTypeTraitsBase2<FLmvSequenceTickFunction>
{
	enum { WithCopy = false };
};

/** One buffer to capture: one scene-capture component, one render target, one output folder. */
USTRUCT(BlueprintType)
struct LMVCAPTURE_API FCaptureItem
{
	GENERATED_BODY()

	/** Output folder under BasePath; must be a buffer of lmv's schema (see LmvCaptureSchema.h) for lmv to read it. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Capture")
	FString BufferName;

	/** Post-process material applied to this capture (Scripts/create_materials.py makes them); empty = the raw image. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Capture")
	TSoftObjectPtr<UMaterialInterface> PPMaterial;

	/** Render only the actors in the manager's SkyActors list (show-only list). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Capture")
	bool bSkyOnly = false;

	/** A colour buffer: the manager's AntiAliasing setting applies. Off for data read from the G-buffer. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Capture")
	bool bAntiAliased = false;
};

/**
 * Place one in the level, set a level sequence (or let the player drive the camera), press Play.
 *
 * Every engine tick the level sequence is placed first (FLmvSequenceTickFunction); after everything else has
 * ticked (TG_PostUpdateWork), each capture item's
 * USceneCaptureComponent2D is moved to the current camera and rendered; from tick WarmUpFrames on, the
 * render targets are read back and written as frame k = FrameIndex - WarmUpFrames. The engine runs with a
 * fixed time step of 1/FramesPerSecond and the level sequence is placed at exactly FrameIndex/FramesPerSecond
 * after its start, so consecutive frames are exactly one frame interval apart and velocity spans that interval.
 */
UCLASS(ClassGroup = (Rendering), meta = (DisplayName = "LMV Capture Manager"))
class LMVCAPTURE_API ACaptureManager : public AActor
{
	GENERATED_BODY()

public:
	ACaptureManager();

	// ---- Output -------------------------------------------------------------------------------------

	/** Scene folder: <BasePath>/<Buffer>/frame_<k>.EXR and <BasePath>/camera.json. Empty: <Project>/Saved/LmvCapture/<Map>. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Output")
	FString BasePath;

	/** Delete frame files of an earlier run in the output folders first. Off: refuse to start when any exists. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Output")
	bool bOverwrite = false;

	/** ZIP-compress the EXR files (lossless). Off: uncompressed, about twice the size. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Output")
	bool bCompressExr = true;

	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Output", meta = (ClampMin = "16", ClampMax = "8192"))
	int32 Width = 1280;

	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Output", meta = (ClampMin = "16", ClampMax = "8192"))
	int32 Height = 720;

	// ---- Timing -------------------------------------------------------------------------------------

	/** Capture rate; the engine runs with a fixed time step of 1/FramesPerSecond while capturing. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Timing", meta = (ClampMin = "3", ClampMax = "1000"))
	int32 FramesPerSecond = 60;

	/** Ticks rendered but not written before frame_0 (TAA history, streaming, previous-frame state for velocity). */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Timing", meta = (ClampMin = "1"))
	int32 WarmUpFrames = 60;

	/** Frames written (frame_0 .. frame_<MaxFrames-1>); the capture also stops where the level sequence ends. 0 = no limit. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Timing", meta = (ClampMin = "0"))
	int32 MaxFrames = 600;

	/** Quit the game when the capture is done (ends Play In Editor). */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Timing")
	bool bQuitWhenDone = true;

	// ---- Scene --------------------------------------------------------------------------------------

	/** Played from its start, one capture frame per tick. Empty: capture whatever the game does. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Scene")
	ULevelSequence* LevelSequence = nullptr;

	/** Actor whose camera component to capture from. Empty: the first local player's view target (follows camera cuts). */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Scene")
	AActor* CameraOverride = nullptr;

	/** The sky actors (sky sphere or dome mesh) rendered alone for the sky-only items. Empty is right for a SkyAtmosphere sky. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Scene")
	TArray<AActor*> SkyActors;

	/** One entry per buffer; defaults to every buffer of lmv's schema (LmvCaptureSchema.h). */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Scene")
	TArray<FCaptureItem> CaptureItems;

	// ---- Rendering ----------------------------------------------------------------------------------

	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Rendering")
	ELmvAntiAliasing AntiAliasing = ELmvAntiAliasing::TemporalAA;

	/** Fixed exposure: colour buffers are scene luminance times 2^ExposureBias (auto-exposure is off). */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Rendering")
	float ExposureBias = 0.f;

	/** Bloom in the colour captures. Off keeps SceneColor = SceneColorNoST * STAlpha + STColor exact. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Rendering")
	bool bBloom = false;

	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Rendering")
	bool bDepthOfField = false;

	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Rendering")
	bool bAtmosphere = true;

	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Rendering")
	bool bFog = true;

	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Rendering")
	bool bVolumetricFog = true;

	/** r.ForceLOD 0 while capturing: no LOD switches inside a sequence. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "LMV|Rendering")
	bool bForceLOD0 = true;

	// ---- State --------------------------------------------------------------------------------------

	/** The one frame counter: ticks captured so far, warm-up included. Frame k on disk is tick WarmUpFrames + k. */
	UPROPERTY(VisibleInstanceOnly, Transient, Category = "LMV|State")
	int32 FrameIndex = 0;

	/** The folder being written. */
	UPROPERTY(VisibleInstanceOnly, Transient, Category = "LMV|State")
	FString ResolvedBasePath;

	/** Frames handed to the writer so far (FrameIndex - WarmUpFrames, at least 0). */
	UFUNCTION(BlueprintPure, Category = "LMV")
	int32 GetExportedFrameCount() const;

	UFUNCTION(BlueprintPure, Category = "LMV")
	bool IsCapturing() const { return bCapturing; }

	virtual void Tick(float DeltaSeconds) override;

protected:
	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type EndPlayReason) override;

private:
	friend struct FLmvSequenceTickFunction;

	/** Checks settings and loads materials; fills Errors (capture refused) and Warnings. */
	void Validate(TArray<FString>& Errors, TArray<FString>& Warnings);
	void ValidateItems(TArray<FString>& Errors, TArray<FString>& Warnings);
	void CheckRenderSettings(TArray<FString>& Errors, TArray<FString>& Warnings) const;
	void CheckOutputFolders(TArray<FString>& Errors) const;
	void ClearOutputFolders() const;
	void ApplyEngineSettings();
	void RestoreEngineSettings();
	void SetConsoleVariable(const TCHAR* Name, const TCHAR* Value);
	void CreateCaptures();
	void ConfigurePostProcess(FPostProcessSettings& Settings, UMaterialInterface* Material) const;
	void ConfigureShowFlags(FEngineShowFlags& Flags, bool bColourBuffer) const;
	bool SetupSequence(TArray<FString>& Errors);
	/** Places the sequence at tick Tick: its start plus exactly Tick / FramesPerSecond seconds. */
	void PositionSequence(int32 Tick);
	FMinimalViewInfo ResolveView();
	void EnqueueReadBack(int32 ExportIndex);
	void HandOverPendingFrame();
	void RecordCamera(const FMinimalViewInfo& View, int32 ExportIndex);
	bool IsDone() const;
	void WriteCameraJson(bool bComplete) const;
	void FinishCapture(bool bComplete);
	void Report(ELogVerbosity::Type Verbosity, const FString& Message) const;

	bool bCapturing = false;
	bool bWarnedDeltaTime = false;
	bool bWarnedCamera = false;

	/** Items that passed validation, with their loaded material (nullptr = raw image), component and target. */
	TArray<FCaptureItem> ActiveItems;
	UPROPERTY(Transient)
	TArray<UMaterialInterface*> ActiveMaterials;
	UPROPERTY(Transient)
	TArray<USceneCaptureComponent2D*> Captures;
	UPROPERTY(Transient)
	TArray<UTextureRenderTarget2D*> Targets;

	FLmvSequenceTickFunction SequenceTick;
	UPROPERTY(Transient)
	ULevelSequencePlayer* SequencePlayer = nullptr;
	UPROPERTY(Transient)
	ALevelSequenceActor* SequenceActor = nullptr;
	FFrameRate CaptureRate;
	FFrameRate SequenceDisplayRate;
	FFrameTime SequenceStart;
	/** Ticks whose time lies inside the sequence's playback range (INDEX_NONE without a sequence). */
	int32 SequenceTicks = INDEX_NONE;

	/** The read-back of the latest exported tick: filled on the render thread, handed over on the next tick. */
	FLmvFramePtr PendingFrame;
	FRenderCommandFence ReadBackFence;
	TUniquePtr<FLmvFrameWriter> Writer;
	TArray<FLmvCameraRecord> CameraRecords;

	bool bSavedUseFixedTimeStep = false;
	double SavedFixedDeltaTime = 0.0;
	TMap<FString, FString> SavedConsoleVariables;
};
