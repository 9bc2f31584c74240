// Generated from lmv_cli/core/schema.py by `python -m lmv_cli.core.ue4 --write ue4/`; do not edit.
// The export layout of SPEC section 2: <BasePath>/<Folder>/frame_<k>.EXR, float RGBA.
#pragma once

#include "CoreMinimal.h"

namespace LmvCaptureSchema
{
	/** One buffer folder of the export and how the capture manager renders it. */
	struct FBufferInfo
	{
		const TCHAR* Folder;        // folder name under BasePath
		const TCHAR* MaterialPath;  // post-process material object path; nullptr = raw SCS_FinalColorHDR
		bool bSkyOnly;              // render only the manager's SkyActors (show-only list)
		bool bAntiAliased;          // colour buffer: the manager's AntiAliasing setting applies
		bool bRequired;             // lmv capture-check reports the folder as missing when absent
		const TCHAR* Channels;      // meaning of each EXR channel
	};

	static const FBufferInfo Buffers[] =
	{
		{TEXT("SceneColor"), nullptr, false, true, true,
			TEXT("R: final linear HDR colour incl. separate translucency (R); G: final linear HDR colour incl. separate translucency (G); B: final linear HDR colour incl. separate translucency (B)")},
		{TEXT("SceneColorNoST"), TEXT("/Game/LmvCapture/Materials/M_Lmv_SceneColorNoST.M_Lmv_SceneColorNoST"), false, true, true,
			TEXT("R: linear HDR colour without separate translucency (R); G: linear HDR colour without separate translucency (G); B: linear HDR colour without separate translucency (B)")},
		{TEXT("STAlpha"), TEXT("/Game/LmvCapture/Materials/M_Lmv_STAlpha.M_Lmv_STAlpha"), false, false, true,
			TEXT("R: separate-translucency transmittance (1 = nothing in front)")},
		{TEXT("SkyColor"), nullptr, true, true, true,
			TEXT("R: sky radiance (sky-only render) (R); G: sky radiance (sky-only render) (G); B: sky radiance (sky-only render) (B)")},
		{TEXT("SkyDepth"), TEXT("/Game/LmvCapture/Materials/M_Lmv_SkyDepth.M_Lmv_SkyDepth"), true, false, true,
			TEXT("R: planar depth of the sky-only render [cm]")},
		{TEXT("BaseColor"), TEXT("/Game/LmvCapture/Materials/M_Lmv_BaseColor.M_Lmv_BaseColor"), false, false, true,
			TEXT("R: base colour, linear; 0 on sky (R); G: base colour, linear; 0 on sky (G); B: base colour, linear; 0 on sky (B)")},
		{TEXT("MetallicRoughnessStencil"), TEXT("/Game/LmvCapture/Materials/M_Lmv_MetallicRoughnessStencil.M_Lmv_MetallicRoughnessStencil"), false, false, true,
			TEXT("R: metallic; G: roughness; B: custom stencil [0-255]")},
		{TEXT("NoVSpecular"), TEXT("/Game/LmvCapture/Materials/M_Lmv_NoVSpecular.M_Lmv_NoVSpecular"), false, false, true,
			TEXT("R: N.V, not clamped; G: UE specular (default 0.5)")},
		{TEXT("VelocityDepth"), TEXT("/Game/LmvCapture/Materials/M_Lmv_VelocityDepth.M_Lmv_VelocityDepth"), false, false, true,
			TEXT("R: velocity x = current - previous NDC x (full width 2, x right) [NDC]; G: velocity y = current - previous NDC y (full height 2, y up) [NDC]; B: planar scene depth [cm]")},
		{TEXT("WorldNormal"), TEXT("/Game/LmvCapture/Materials/M_Lmv_WorldNormal.M_Lmv_WorldNormal"), false, false, true,
			TEXT("R: world-space normal in [-1, 1] (R); G: world-space normal in [-1, 1] (G); B: world-space normal in [-1, 1] (B)")},
		{TEXT("WorldPosition"), TEXT("/Game/LmvCapture/Materials/M_Lmv_WorldPosition.M_Lmv_WorldPosition"), false, false, false,
			TEXT("R: absolute world position (R) [cm]; G: absolute world position (G) [cm]; B: absolute world position (B) [cm]")},
	};

	static const int32 NumBuffers = UE_ARRAY_COUNT(Buffers);

	/** Depth (cm) written where nothing is rendered (sky); both depth materials clamp to it. */
	static const float SkyDepthCm = 1000000.0f;

	/** File name of exported frame k: FramePrefix + k + FrameSuffix, no zero padding. */
	static const TCHAR* const FramePrefix = TEXT("frame_");
	static const TCHAR* const FrameSuffix = TEXT(".EXR");
}
