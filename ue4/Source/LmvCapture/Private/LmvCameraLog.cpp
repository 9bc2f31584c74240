#include "LmvCameraLog.h"

#include "Math/PerspectiveMatrix.h"
#include "Math/RotationMatrix.h"
#include "Math/InverseRotationMatrix.h"
#include "Math/TranslationMatrix.h"

namespace
{
	FString Number(double Value)
	{
		return FString::Printf(TEXT("%.9g"), Value);
	}

	/** A JSON string: backslashes and quotes escaped, control characters dropped (names and paths only). */
	FString Quoted(const FString& Text)
	{
		FString Escaped;
		for (const TCHAR Character : Text)
		{
			if (Character == TEXT('\\') || Character == TEXT('"'))
			{
				Escaped.AppendChar(TEXT('\\'));
			}
			if (Character >= 0x20)
			{
				Escaped.AppendChar(Character);
			}
		}
		return TEXT("\"") + Escaped + TEXT("\"");
	}

	FString Vector(const FVector& V)
	{
		return FString::Printf(TEXT("[%s, %s, %s]"), *Number(V.X), *Number(V.Y), *Number(V.Z));
	}

	FString Matrix(const FMatrix& M)
	{
		TArray<FString> Rows;
		for (int32 Row = 0; Row < 4; ++Row)
		{
			Rows.Add(FString::Printf(TEXT("[%s, %s, %s, %s]"), *Number(M.M[Row][0]), *Number(M.M[Row][1]),
				*Number(M.M[Row][2]), *Number(M.M[Row][3])));
		}
		return TEXT("[") + FString::Join(Rows, TEXT(", ")) + TEXT("]");
	}

	/** World to view space as UE's scene captures build it: translate, un-rotate, swap to X right, Y up, Z forward. */
	FMatrix WorldToView(const FLmvCameraRecord& Camera)
	{
		const FMatrix AxisSwap(FPlane(0, 0, 1, 0), FPlane(1, 0, 0, 0), FPlane(0, 1, 0, 0), FPlane(0, 0, 0, 1));
		return FTranslationMatrix(-Camera.Location) * FInverseRotationMatrix(Camera.Rotation) * AxisSwap;
	}

	FString CameraEntry(const FLmvCaptureInfo& Info, const FLmvCameraRecord& Camera)
	{
		const double HalfFovX = FMath::DegreesToRadians(double(Camera.FovXDegrees)) * 0.5;
		const double Aspect = double(Info.Size.X) / double(FMath::Max(1, Info.Size.Y));
		const double FovY = FMath::RadiansToDegrees(2.0 * FMath::Atan(FMath::Tan(HalfFovX) / Aspect));
		// Same projection the capture component builds for a W > H target: horizontal FOV, Y scaled by W/H.
		const FMatrix Projection = FReversedZPerspectiveMatrix(float(HalfFovX), float(HalfFovX), 1.f, float(Aspect),
			Info.NearClipCm, Info.NearClipCm);
		const FRotationMatrix Basis(Camera.Rotation);
		return FString::Printf(
			TEXT("  {\"frame\": %d, \"tick\": %d, \"sequence_seconds\": %s, \"position_cm\": %s, ")
			TEXT("\"rotation_pitch_yaw_roll_deg\": [%s, %s, %s], \"forward\": %s, \"right\": %s, \"up\": %s, ")
			TEXT("\"fov_x_deg\": %s, \"fov_y_deg\": %s, \"world_to_view\": %s, \"projection\": %s}"),
			Camera.Frame, Camera.Tick, *Number(Camera.SequenceSeconds), *Vector(Camera.Location),
			*Number(Camera.Rotation.Pitch), *Number(Camera.Rotation.Yaw), *Number(Camera.Rotation.Roll),
			*Vector(Basis.GetUnitAxis(EAxis::X)), *Vector(Basis.GetUnitAxis(EAxis::Y)), *Vector(Basis.GetUnitAxis(EAxis::Z)),
			*Number(Camera.FovXDegrees), *Number(FovY), *Matrix(WorldToView(Camera)), *Matrix(Projection));
	}
}

FString LmvCameraJson(const FLmvCaptureInfo& Info, const TArray<FLmvCameraRecord>& Cameras)
{
	TArray<FString> Buffers;
	for (const FString& Buffer : Info.Buffers)
	{
		Buffers.Add(Quoted(Buffer));
	}
	TArray<FString> Entries;
	for (const FLmvCameraRecord& Camera : Cameras)
	{
		Entries.Add(CameraEntry(Info, Camera));
	}
	FString Json = TEXT("{\n");
	Json += FString::Printf(TEXT(" \"renderer\": %s,\n \"map\": %s,\n \"sequence\": %s,\n"),
		*Quoted(TEXT("Unreal Engine ") + Info.EngineVersion + TEXT(", LMV capture plugin")), *Quoted(Info.Map), *Quoted(Info.Sequence));
	Json += FString::Printf(TEXT(" \"fps\": %d,\n \"warm_up_frames\": %d,\n \"frames\": %d,\n \"complete\": %s,\n"),
		Info.FramesPerSecond, Info.WarmUpFrames, Cameras.Num(), Info.bComplete ? TEXT("true") : TEXT("false"));
	Json += FString::Printf(TEXT(" \"resolution\": [%d, %d],\n \"near_clip_cm\": %s,\n \"sky_depth_cm\": %s,\n"),
		Info.Size.X, Info.Size.Y, *Number(Info.NearClipCm), *Number(Info.SkyDepthCm));
	Json += FString::Printf(TEXT(" \"exposure_bias_ev\": %s,\n \"anti_aliasing\": %s,\n \"buffers\": [%s],\n"),
		*Number(Info.ExposureBias), *Quoted(Info.AntiAliasing), *FString::Join(Buffers, TEXT(", ")));
	Json += TEXT(" \"conventions\": {\n")
		TEXT("  \"world\": \"UE world axes, left-handed: X forward, Y right, Z up; centimetres\",\n")
		TEXT("  \"matrices\": \"UE row-vector convention: p_clip = [x y z 1] * world_to_view * projection; reversed Z, infinite far plane\",\n")
		TEXT("  \"velocity\": \"VelocityDepth.RG = NDC(current) - NDC(previous), full width = full height = 2, y up\",\n")
		TEXT("  \"frame_mapping\": \"frame k was captured at tick warm_up_frames + k; sequence_seconds = tick / fps from the sequence start\"\n")
		TEXT(" },\n");
	Json += TEXT(" \"cameras\": [\n") + FString::Join(Entries, TEXT(",\n")) + TEXT("\n ]\n}\n");
	return Json;
}
