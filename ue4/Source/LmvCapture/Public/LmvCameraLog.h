// Per-frame camera information written next to the buffers as <BasePath>/camera.json.
#pragma once

#include "CoreMinimal.h"

/** The camera of one exported frame, as the capture components used it. */
struct FLmvCameraRecord
{
	/** k of frame_<k>.EXR. */
	int32 Frame = 0;
	/** Capture tick of the frame (the manager's FrameIndex): WarmUpFrames + Frame. */
	int32 Tick = 0;
	/** Sequence time of the frame in seconds from the sequence's start; negative without a level sequence. */
	double SequenceSeconds = -1.0;
	/** Camera position, cm, UE world axes (left-handed: X forward, Y right, Z up). */
	FVector Location = FVector::ZeroVector;
	FRotator Rotation = FRotator::ZeroRotator;
	/** Horizontal field of view in degrees (the capture's FOVAngle). */
	float FovXDegrees = 90.f;
};

/** What the whole capture was: written once at the top of camera.json. */
struct FLmvCaptureInfo
{
	FString Map;
	FString Sequence;
	FString EngineVersion;
	FString AntiAliasing;
	TArray<FString> Buffers;
	FIntPoint Size = FIntPoint::ZeroValue;
	int32 FramesPerSecond = 60;
	int32 WarmUpFrames = 0;
	float ExposureBias = 0.f;
	float NearClipCm = 10.f;
	float SkyDepthCm = 0.f;
	/** False when play ended before the capture finished (the frame files present are still complete). */
	bool bComplete = false;
};

/**
 * camera.json: capture settings, conventions and one entry per exported frame with position, rotation,
 * basis vectors, fields of view and the UE view and projection matrices (row-vector convention:
 * p_clip = p_world * WorldToView * Projection; reversed Z with an infinite far plane, as the captures render).
 */
LMVCAPTURE_API FString LmvCameraJson(const FLmvCaptureInfo& Info, const TArray<FLmvCameraRecord>& Cameras);
